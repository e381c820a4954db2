"""Write issued artefacts to a directory (the CLI's ``export`` command calls this).

Files: ``<uuid>.vc.json`` (Data Integrity OB 3.0), ``<uuid>.vc.jwt``, ``<uuid>.elm.json``, ``did.json``,
``jwks.json`` and the status list credential (``status-list.json`` or ``status-list.jwt``). ``<uuid>`` is
the credential id without ``urn:uuid:`` (colons are not portable in file names).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_URN_UUID = re.compile(r"^urn:uuid:([0-9a-f-]{36})$")


@dataclass(frozen=True)
class IssuedArtefacts:
    credential_id: str
    vc_json: dict[str, Any] | None = None  # OB 3.0 with a Data Integrity proof
    vc_jwt: str | None = None
    elm_json: dict[str, Any] | None = None


def _stem(credential_id: str) -> str:
    match = _URN_UUID.match(credential_id)
    if not match:
        raise ValueError(f"credential id {credential_id!r} is not a lower-case urn:uuid")
    return match.group(1)


def _write(path: Path, text: str) -> None:
    # Write then rename so a reader (or a crash) never sees half a credential.
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2) + "\n"


def write_export(
    directory: Path,
    artefacts: list[IssuedArtefacts],
    did_document: dict[str, Any] | None = None,
    jwks: dict[str, Any] | None = None,
    status_list_credential: dict[str, Any] | str | None = None,
) -> list[Path]:
    """Write everything given into ``directory`` (created if missing); returns the paths written."""
    directory = Path(directory)
    stems = [_stem(a.credential_id) for a in artefacts]  # validate all before writing anything
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def put(name: str, text: str) -> None:
        path = directory / name
        _write(path, text)
        written.append(path)

    for stem, item in zip(stems, artefacts, strict=True):
        if item.vc_json is not None:
            put(f"{stem}.vc.json", _json(item.vc_json))
        if item.vc_jwt is not None:
            put(f"{stem}.vc.jwt", item.vc_jwt.strip() + "\n")
        if item.elm_json is not None:
            put(f"{stem}.elm.json", _json(item.elm_json))
    if did_document is not None:
        put("did.json", _json(did_document))
    if jwks is not None:
        put("jwks.json", _json(jwks))
    if isinstance(status_list_credential, str):
        put("status-list.jwt", status_list_credential.strip() + "\n")
    elif status_list_credential is not None:
        put("status-list.json", _json(status_list_credential))
    return written
