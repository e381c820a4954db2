"""Bitstring Status List v1.0: bit order, encoding, the list credential, and revocation in verification."""

from __future__ import annotations

import base64
import gzip
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from credbridge.connector.issuing.formats import (
    StatusList,
    build_ob3,
    build_status_list_credential,
    sign_data_integrity,
    sign_vc_jwt,
    verify_data_integrity,
    verify_jwt,
)
from credbridge.connector.issuing.formats.content import CredentialContent
from credbridge.connector.issuing.formats.errors import StatusListError
from credbridge.connector.issuing.formats.keys import generate_ed25519
from credbridge.connector.issuing.formats.status_list import MAX_BITS, MIN_BITS
from tests.issuing.formats.conftest import DID, KID, LIST_URL

NOW = datetime(2026, 7, 1, tzinfo=UTC)
ISSUED = datetime(2026, 6, 30, tzinfo=UTC)


@given(st.sets(st.integers(min_value=0, max_value=MIN_BITS - 1), max_size=64),
       st.integers(min_value=0, max_value=MIN_BITS - 1))
@settings(max_examples=60, deadline=None)
def test_set_get_clear_roundtrip_through_the_encoding(indexes: set[int], probe: int) -> None:
    bits = StatusList()
    for index in indexes:
        bits.set(index)
    decoded = StatusList.decode(bits.encode())
    assert all(decoded.get(i) for i in indexes)
    assert decoded.get(probe) == (probe in indexes)
    for index in indexes:
        decoded.clear(index)
    assert decoded.to_bytes() == bytes(MIN_BITS // 8)


def test_index_zero_is_the_leftmost_bit_and_encoding_is_multibase_gzip() -> None:
    bits = StatusList()
    bits.set(0)
    bits.set(9)
    assert bits.to_bytes()[:2] == b"\x80\x40"
    encoded = bits.encode()
    assert encoded.startswith("u") and "=" not in encoded
    raw = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    assert len(raw) == MIN_BITS // 8 and raw[:2] == b"\x80\x40"


@pytest.mark.parametrize("index", [-1, MIN_BITS, True, "3"])
def test_out_of_range_indexes_are_refused(index: Any) -> None:
    with pytest.raises(StatusListError, match="outside"):
        StatusList().set(index)


@pytest.mark.parametrize("size", [8, MIN_BITS - 8, MIN_BITS + 3])
def test_lists_below_16_kib_or_in_partial_bytes_are_refused(size: int) -> None:
    with pytest.raises(StatusListError):
        StatusList(size)


@pytest.mark.parametrize("encoded", ["zabc", "u!!!", "u" + base64.urlsafe_b64encode(b"not gzip").decode()])
def test_undecodable_lists_are_refused(encoded: str) -> None:
    with pytest.raises(StatusListError):
        StatusList.decode(encoded)


def test_a_gzip_bomb_is_refused() -> None:
    huge = gzip.compress(bytes(MAX_BITS // 8 + 8), mtime=0)
    with pytest.raises(StatusListError, match="larger than"):
        StatusList.decode("u" + base64.urlsafe_b64encode(huge).rstrip(b"=").decode())


def test_list_credential_shape() -> None:
    credential = build_status_list_credential(LIST_URL, DID, StatusList(), ISSUED)
    assert credential["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert credential["credentialSubject"]["type"] == "BitstringStatusList"
    assert credential["credentialSubject"]["statusPurpose"] == "revocation"
    assert credential["id"] == LIST_URL


@pytest.fixture
def token(content: CredentialContent, issuer_key: Ed25519PrivateKey) -> str:
    return sign_vc_jwt(build_ob3(content), issuer_key, KID)


def _published(bits: StatusList, key: Ed25519PrivateKey, as_jwt: bool, issuer: str = DID) -> dict[str, Any] | str:
    credential = build_status_list_credential(LIST_URL, issuer, bits, ISSUED)
    return sign_vc_jwt(credential, key, f"{issuer}#key-2026-11") if as_jwt else (
        sign_data_integrity(credential, key, f"{issuer}#key-2026-11"))


@pytest.mark.parametrize("as_jwt", [True, False], ids=["list as VC-JWT", "list with DI proof"])
def test_revocation_bit_flips_the_verification(token: str, content: CredentialContent, did_provider: Any,
                                                issuer_key: Ed25519PrivateKey, as_jwt: bool) -> None:
    bits = StatusList()
    lists = {LIST_URL: _published(bits, issuer_key, as_jwt)}
    di = sign_data_integrity(build_ob3(content), issuer_key, KID)
    assert verify_jwt(token, did_provider, lists.__getitem__, now=NOW).ok
    assert verify_data_integrity(di, did_provider, lists.__getitem__, now=NOW).ok

    bits.set(content.status.index)
    lists[LIST_URL] = _published(bits, issuer_key, as_jwt)
    for result in (verify_jwt(token, did_provider, lists.__getitem__, now=NOW),
                   verify_data_integrity(di, did_provider, lists.__getitem__, now=NOW)):
        assert [c.code for c in result.failures] == ["status"]
        assert "revoked" in result.failures[0].message

    bits.clear(content.status.index)
    lists[LIST_URL] = _published(bits, issuer_key, as_jwt)
    assert verify_jwt(token, did_provider, lists.__getitem__, now=NOW).ok


def test_a_list_signed_by_someone_else_does_not_count(token: str, did_provider: Any) -> None:
    forged = _published(StatusList(), generate_ed25519(), as_jwt=True)
    result = verify_jwt(token, did_provider, {LIST_URL: forged}.__getitem__, now=NOW)
    assert [c.code for c in result.failures] == ["status"]
    assert "is not valid" in result.failures[0].message


def test_an_unreachable_list_is_a_failed_check_not_a_crash(token: str, did_provider: Any) -> None:
    def offline(url: str) -> str:
        raise ConnectionError("connection refused")

    result = verify_jwt(token, did_provider, offline, now=NOW)
    assert [c.code for c in result.failures] == ["status"]
    assert "connection refused" in result.failures[0].message


def test_a_list_for_another_purpose_or_url_is_refused(token: str, did_provider: Any,
                                                      issuer_key: Ed25519PrivateKey) -> None:
    suspension = build_status_list_credential(LIST_URL, DID, StatusList(), ISSUED, purpose="suspension")
    elsewhere = build_status_list_credential("https://credbridge.test/other", DID, StatusList(), ISSUED)
    for credential in (suspension, elsewhere):
        published = sign_vc_jwt(credential, issuer_key, KID)
        result = verify_jwt(token, did_provider, {LIST_URL: published}.__getitem__, now=NOW)
        assert [c.code for c in result.failures] == ["status"]
