"""write_export: the files a school admin gets from ``credbridge export``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credbridge.connector.issuing.formats import (
    StatusList,
    build_elm,
    build_ob3,
    build_status_list_credential,
    sign_data_integrity,
    sign_vc_jwt,
    verify_data_integrity,
    verify_jwt,
    write_export,
)
from credbridge.connector.issuing.formats.content import CredentialContent
from credbridge.connector.issuing.formats.did import NamedKey, jwks
from credbridge.connector.issuing.formats.export import IssuedArtefacts
from tests.issuing.formats.conftest import DID, KID, LIST_URL, provider_for

NOW = datetime(2026, 7, 1, tzinfo=UTC)


def test_writes_every_artefact_and_they_verify_from_disk(tmp_path: Path, content: CredentialContent,
                                                         issuer_key: Ed25519PrivateKey,
                                                         did_document: dict[str, Any]) -> None:
    vc = build_ob3(content)
    status = sign_vc_jwt(build_status_list_credential(LIST_URL, DID, StatusList(), NOW), issuer_key, KID)
    artefacts = IssuedArtefacts(content.credential_id, sign_data_integrity(vc, issuer_key, KID),
                                sign_vc_jwt(vc, issuer_key, KID), build_elm(content))
    written = write_export(tmp_path / "out", [artefacts], did_document,
                           jwks([NamedKey("key-2026-11", issuer_key.public_key())], DID), status)
    stem = "0b7e6a4c-3f8e-4f3a-9c1e-2d5b8a7f6e10"
    assert sorted(p.name for p in written) == sorted([
        f"{stem}.vc.json", f"{stem}.vc.jwt", f"{stem}.elm.json", "did.json", "jwks.json", "status-list.jwt"])
    out = tmp_path / "out"
    provider = provider_for(json.loads((out / "did.json").read_text()))
    lists = {LIST_URL: (out / "status-list.jwt").read_text()}.__getitem__
    result = verify_jwt((out / f"{stem}.vc.jwt").read_text(), provider, lists, now=NOW)
    assert result.ok, result.failures
    assert verify_data_integrity(json.loads((out / f"{stem}.vc.json").read_text()), provider, lists, now=NOW).ok
    assert json.loads((out / f"{stem}.elm.json").read_text())["id"] == content.credential_id
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left behind


def test_a_bad_id_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="urn:uuid"):
        write_export(tmp_path / "out", [IssuedArtefacts("urn:uuid:0b7e6a4c-3f8e-4f3a-9c1e-2d5b8a7f6e10", vc_jwt="x"),
                                        IssuedArtefacts("../../etc/passwd", vc_jwt="x")])
    assert not (tmp_path / "out").exists()
