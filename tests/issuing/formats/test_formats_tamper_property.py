"""Property: changing any single value anywhere in a signed credential makes verification fail."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from credbridge.connector.issuing.formats import (
    build_ob3,
    sign_data_integrity,
    sign_vc_jwt,
    verify_data_integrity,
    verify_jwt,
)
from credbridge.connector.issuing.formats.did import NamedKey, did_web_document
from credbridge.connector.issuing.formats.keys import generate_ed25519
from tests.issuing.formats.conftest import DID, KID, make_content
from tests.issuing.formats.test_formats_vc_jwt import _forge

NOW = datetime(2026, 7, 1, tzinfo=UTC)
_KEY = generate_ed25519()
_DOCUMENT = did_web_document(DID, [NamedKey("key-2026-11", _KEY.public_key())])
_CREDENTIAL = build_ob3(make_content())
_SIGNED = sign_data_integrity(_CREDENTIAL, _KEY, KID)
_TOKEN = sign_vc_jwt(_CREDENTIAL, _KEY, KID)


def _leaves(node: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(node, dict):
        return [leaf for key, value in node.items() for leaf in _leaves(value, (*path, key))]
    if isinstance(node, list):
        return [leaf for i, value in enumerate(node) for leaf in _leaves(value, (*path, i))]
    return [path]


# proofValue is excluded: changing it is the "wrong signature" case tested with the 1EdTech vector.
LEAVES = [p for p in _leaves(_SIGNED) if p[-1] != "proofValue"]


def _replace(document: dict[str, Any], path: tuple, value: str) -> None:
    node = document
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value


@given(st.sampled_from(LEAVES), st.text(alphabet="abcxyz019:/#", min_size=1, max_size=12))
@settings(max_examples=40, deadline=None)
def test_changing_any_value_breaks_the_data_integrity_proof(path: tuple, value: str) -> None:
    tampered = copy.deepcopy(_SIGNED)
    _replace(tampered, path, value)
    if tampered == _SIGNED:
        return
    assert not verify_data_integrity(tampered, lambda did: _DOCUMENT, now=NOW).ok, path


JWT_LEAVES = _leaves(_CREDENTIAL)


@given(st.sampled_from(JWT_LEAVES), st.text(min_size=1, max_size=12))
@settings(max_examples=60, deadline=None)
def test_changing_any_value_breaks_the_vc_jwt(path: tuple, value: str) -> None:
    forged = _forge(_TOKEN, lambda payload: _replace(payload, path, value))
    if forged == _TOKEN:
        return
    assert not verify_jwt(forged, lambda did: _DOCUMENT, now=NOW).ok, path
