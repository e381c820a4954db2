"""did:web and did:key documents, key encodings and verification-method resolution."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credbridge.connector.issuing.formats.did import (
    NamedKey,
    did_key,
    did_key_document,
    did_web_document,
    did_web_id,
    did_web_school,
    did_web_url,
    jwks,
    resolve_public_key,
)
from credbridge.connector.issuing.formats.errors import KeyResolutionError
from credbridge.connector.issuing.formats.keys import (
    generate_ed25519,
    jwk_thumbprint,
    private_key_from_pem,
    private_key_to_pem,
    public_from_jwk,
    public_from_multibase,
    public_jwk,
    public_multibase,
    raw_public,
)
from tests.issuing.formats.conftest import DID, KID, ROTATED_KID, provider_for


def test_did_web_encodes_the_port_and_path_as_the_spec_says() -> None:
    assert did_web_school("CB.example.org", "tsrb", port=8443) == "did:web:cb.example.org%3A8443:schools:tsrb"
    assert did_web_url("did:web:cb.example.org%3A8443:schools:tsrb") == (
        "https://cb.example.org:8443/schools/tsrb/did.json")
    assert did_web_url("did:web:example.org") == "https://example.org/.well-known/did.json"
    assert did_web_id("example.org") == "did:web:example.org"


@pytest.mark.parametrize(("host", "path"), [("example.org:80", ()), ("a/b", ()), ("example.org", ("a b",)),
                                            ("", ())])
def test_bad_did_web_parts_are_refused(host: str, path: tuple) -> None:
    with pytest.raises(ValueError, match="did:web"):
        did_web_id(host, *path)


def test_document_lists_current_and_rotated_keys_in_both_forms(did_document: dict[str, Any],
                                                               issuer_key: Ed25519PrivateKey) -> None:
    ids = [m["id"] for m in did_document["verificationMethod"]]
    assert ids == [KID, f"{KID}-jwk", ROTATED_KID, f"{ROTATED_KID}-jwk"]
    assert did_document["assertionMethod"] == ids
    multikey, jwk = did_document["verificationMethod"][:2]
    assert multikey["type"] == "Multikey" and multikey["publicKeyMultibase"].startswith("z6Mk")
    assert jwk["type"] == "JsonWebKey2020" and jwk["publicKeyJwk"] == public_jwk(issuer_key.public_key())
    assert "d" not in jwk["publicKeyJwk"]


def test_every_method_resolves_to_its_key(did_document: dict[str, Any], did_provider: Any,
                                          issuer_key: Ed25519PrivateKey, rotated_key: Ed25519PrivateKey) -> None:
    expected = raw_public(issuer_key.public_key())
    assert raw_public(resolve_public_key(KID, did_provider)) == expected
    assert raw_public(resolve_public_key(f"{KID}-jwk", did_provider)) == expected
    assert raw_public(resolve_public_key(ROTATED_KID, did_provider)) == raw_public(rotated_key.public_key())


def test_did_key_resolves_locally() -> None:
    key = generate_ed25519().public_key()
    did = did_key(key)
    method = did_key_document(did)["verificationMethod"][0]["id"]
    assert raw_public(resolve_public_key(method, None)) == raw_public(key)


def test_a_method_missing_from_assertion_method_is_refused(did_document: dict[str, Any]) -> None:
    document = {**did_document, "assertionMethod": [f"{KID}-jwk"]}
    with pytest.raises(KeyResolutionError, match="not listed under assertionMethod"):
        resolve_public_key(KID, provider_for(document))


def test_a_document_for_another_did_is_refused(did_document: dict[str, Any]) -> None:
    with pytest.raises(KeyResolutionError, match="does not match"):
        resolve_public_key(KID, lambda did: {**did_document, "id": "did:web:evil.test"})


@pytest.mark.parametrize("method", [f"{DID}#nope", DID, "did:key:z6MkNOTBASE58!"])
def test_unknown_or_malformed_methods_are_refused(method: str, did_provider: Any) -> None:
    with pytest.raises(KeyResolutionError):
        resolve_public_key(method, did_provider)


def test_keys_roundtrip_through_pem_multibase_and_jwk() -> None:
    key = generate_ed25519()
    again = private_key_from_pem(private_key_to_pem(key))
    assert raw_public(again.public_key()) == raw_public(key.public_key())
    assert raw_public(public_from_multibase(public_multibase(key.public_key()))) == raw_public(key.public_key())
    assert raw_public(public_from_jwk(public_jwk(key.public_key()))) == raw_public(key.public_key())
    assert len(jwk_thumbprint(key.public_key())) == 43


def test_a_jwk_with_a_private_part_is_refused() -> None:
    with pytest.raises(KeyResolutionError, match="private"):
        public_from_jwk({**public_jwk(generate_ed25519().public_key()), "d": "AAAA"})


def test_duplicate_key_names_are_refused(issuer_key: Ed25519PrivateKey) -> None:
    with pytest.raises(ValueError, match="unique"):
        did_web_document(DID, [NamedKey("k", issuer_key.public_key()), NamedKey("k", issuer_key.public_key())])


def test_jwks_names_keys_by_verification_method(issuer_key: Ed25519PrivateKey) -> None:
    published = jwks([NamedKey("key-2026-11", issuer_key.public_key())], DID)
    assert published["keys"][0]["kid"] == KID
    assert published["keys"][0]["alg"] == "EdDSA"
