"""Data Integrity eddsa-rdfc-2022: the 1EdTech vectors, our own proofs, tampering, offline contexts."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credbridge.connector.issuing.formats import build_ob3, sign_data_integrity, verify_data_integrity
from credbridge.connector.issuing.formats.canonical_nquads import canonize
from credbridge.connector.issuing.formats.content import CredentialContent
from credbridge.connector.issuing.formats.data_integrity import check_proof, split_proof
from credbridge.connector.issuing.formats.did import did_key, did_key_verification_method, resolve_public_key
from credbridge.connector.issuing.formats.errors import SigningError, UnknownContextError
from credbridge.connector.issuing.formats.keys import generate_ed25519
from tests.issuing.formats.conftest import DID, KID, ROTATED_KID, STANDARDS

NOW = datetime(2026, 7, 1, tzinfo=UTC)
VECTORS = STANDARDS / "ob3" / "testvectors"


def _vector(name: str) -> dict[str, Any]:
    return json.loads((VECTORS / name).read_text())


def _vector_provider(method: str) -> Any:
    """The vectors' issuer is an https URL whose key fragment is the multibase public key."""
    controller, fragment = method.split("#")
    document = {"id": controller,
                "verificationMethod": [{"id": method, "type": "Multikey", "controller": controller,
                                        "publicKeyMultibase": fragment}],
                "assertionMethod": [method]}
    return lambda did: document


@pytest.fixture
def signed(content: CredentialContent, issuer_key: Ed25519PrivateKey) -> dict[str, Any]:
    return sign_data_integrity(build_ob3(content), issuer_key, KID, created=datetime(2026, 6, 30, tzinfo=UTC))


def test_the_1edtech_eddsa_vector_verifies() -> None:
    vector = _vector("1edtech-simple-eddsa-2022.json")
    method = vector["proof"][0]["verificationMethod"]
    result = verify_data_integrity(vector, _vector_provider(method), now=NOW)
    assert result.ok, result.failures
    assert next(c for c in result.checks if c.code == "signature").passed


def test_the_1edtech_eddsa_rdfc_2022_vector_verifies() -> None:
    vector = _vector("1edtech-simple.json")
    assert vector["proof"][0]["cryptosuite"] == "eddsa-rdfc-2022"
    method = vector["proof"][0]["verificationMethod"]
    result = verify_data_integrity(vector, _vector_provider(method), now=NOW)
    assert result.ok, result.failures


def test_the_1edtech_complete_vector_signature_verifies() -> None:
    # Every OB 3.0 feature plus the extensions context; its status uses 1EdTech's older revocation
    # list, which credbridge does not read, so that check fails with a clear reason.
    vector = _vector("1edtech-complete.json")
    method = vector["proof"][0]["verificationMethod"]
    result = verify_data_integrity(vector, _vector_provider(method), now=NOW)
    assert next(c for c in result.checks if c.code == "signature").passed
    assert [c.code for c in result.failures] == ["status"]
    assert "not supported" in result.failures[0].message


def test_the_1edtech_did_key_vector_signs_correctly_but_the_issuer_does_not_control_the_key() -> None:
    vector = _vector("1edtech-simple-did-key-method.json")
    document, proofs = split_proof(vector)
    method = proofs[0]["verificationMethod"]
    check_proof(document, proofs[0], resolve_public_key(method, None))  # the signature itself is right
    result = verify_data_integrity(vector, None, now=NOW)
    assert [c.code for c in result.failures] == ["key"]
    assert "does not belong to the issuer" in result.failures[0].message


def test_the_1edtech_wrong_proof_value_vector_fails() -> None:
    vector = _vector("1edtech-simple-err-proof-value.json")
    method = vector["proof"][0]["verificationMethod"]
    result = verify_data_integrity(vector, _vector_provider(method), now=NOW)
    assert [c.code for c in result.failures] == ["signature"]


def test_the_1edtech_vector_fails_once_altered() -> None:
    vector = _vector("1edtech-simple-eddsa-2022.json")
    method = vector["proof"][0]["verificationMethod"]
    vector["credentialSubject"]["achievement"]["name"] = "another name"
    assert not verify_data_integrity(vector, _vector_provider(method), now=NOW).ok


def test_our_proof_has_the_shape_1edtech_tests(signed: dict[str, Any], ob3_validator: Any) -> None:
    proof = signed["proof"]
    assert isinstance(proof, list) and len(proof) == 1
    assert proof[0]["type"] == "DataIntegrityProof"
    assert proof[0]["cryptosuite"] == "eddsa-rdfc-2022"
    assert proof[0]["proofPurpose"] == "assertionMethod"
    assert proof[0]["verificationMethod"] == KID
    assert proof[0]["proofValue"].startswith("z")
    assert list(ob3_validator.iter_errors(signed)) == []


def test_our_proof_verifies(signed: dict[str, Any], did_provider: Any) -> None:
    result = verify_data_integrity(signed, did_provider, now=NOW)
    assert result.ok, result.failures
    assert [c.code for c in result.checks] == ["structure", "key", "signature", "validity_period", "status"]


def test_signing_with_a_rotated_key_and_with_did_key(content: CredentialContent, rotated_key: Ed25519PrivateKey,
                                                    did_provider: Any) -> None:
    assert verify_data_integrity(sign_data_integrity(build_ob3(content), rotated_key, ROTATED_KID),
                                 did_provider, now=NOW).ok
    key = generate_ed25519()
    credential = build_ob3(content)
    credential["issuer"]["id"] = did_key(key.public_key())
    signed = sign_data_integrity(credential, key, did_key_verification_method(key.public_key()))
    assert verify_data_integrity(signed, None, now=NOW).ok


TAMPERING = {
    "credential name": lambda d: d.update(name="Something else"),
    "achievement description": lambda d: d["credentialSubject"]["achievement"].update(description="x"),
    "criteria": lambda d: d["credentialSubject"]["achievement"]["criteria"].update(narrative="- nothing"),
    "EQF alignment": lambda d: d["credentialSubject"]["achievement"]["alignment"][0].update(targetCode="8"),
    "credits": lambda d: d["credentialSubject"].update(creditsEarned=60.0),
    "email hash": lambda d: d["credentialSubject"]["identifier"][0].update(identityHash="sha256$00"),
    "subject id": lambda d: d["credentialSubject"].update(id="did:example:mallory"),
    "issuer country": lambda d: d["issuer"]["address"].update(addressCountryCode="DE"),
    "validFrom": lambda d: d.update(validFrom="2026-01-01T00:00:00Z"),
    "status index": lambda d: d["credentialStatus"].update(statusListIndex="8"),
    "proof created": lambda d: d["proof"][0].update(created="2020-01-01T00:00:00Z"),
    "achievement type": lambda d: d["credentialSubject"]["achievement"].update(achievementType="Certificate"),
    "added type": lambda d: d["type"].append("EndorsementCredential"),
}


@pytest.mark.parametrize("mutate", TAMPERING.values(), ids=TAMPERING.keys())
def test_tampering_any_field_fails(signed: dict[str, Any], did_provider: Any, mutate: Any) -> None:
    tampered = copy.deepcopy(signed)
    mutate(tampered)
    result = verify_data_integrity(tampered, did_provider, now=NOW)
    assert [c.code for c in result.failures] == ["signature"]


def test_an_rdf_alias_is_the_same_signed_statement(signed: dict[str, Any], did_provider: Any) -> None:
    # Data Integrity signs the RDF graph, not the JSON text: OB 3.0 maps OpenBadgeCredential and
    # AchievementCredential to one IRI, so swapping them changes nothing that is signed.
    document = copy.deepcopy(signed)
    document["type"] = ["VerifiableCredential", "OpenBadgeCredential"]
    assert verify_data_integrity(document, did_provider, now=NOW).ok


def test_an_undefined_property_is_refused_not_silently_dropped(signed: dict[str, Any], did_provider: Any) -> None:
    # Under the VC 1.1 context an unknown term would vanish from the canonical form and go unsigned.
    legacy = _vector("1edtech-simple-eddsa-2022.json")
    legacy["sneaky"] = "unsigned"
    method = legacy["proof"][0]["verificationMethod"]
    result = verify_data_integrity(legacy, _vector_provider(method), now=NOW)
    assert [c.code for c in result.failures] == ["signature"]
    assert "sneaky" in result.failures[0].message


def test_an_unknown_context_is_refused_without_network(signed: dict[str, Any], did_provider: Any) -> None:
    document = {**signed, "@context": [*signed["@context"], "https://evil.example/context.jsonld"]}
    result = verify_data_integrity(document, did_provider, now=NOW)
    assert [c.code for c in result.failures] == ["signature"]
    assert "https://evil.example/context.jsonld" in result.failures[0].message
    with pytest.raises(UnknownContextError, match="not bundled"):
        canonize({"@context": "https://evil.example/context.jsonld", "name": "x"})


def test_a_single_proof_object_is_refused(signed: dict[str, Any], did_provider: Any) -> None:
    document = {**signed, "proof": signed["proof"][0]}
    assert [c.code for c in verify_data_integrity(document, did_provider, now=NOW).failures] == ["structure"]


def test_the_proof_purpose_must_be_assertion(signed: dict[str, Any], did_provider: Any) -> None:
    document = copy.deepcopy(signed)
    document["proof"][0]["proofPurpose"] = "authentication"
    assert [c.code for c in verify_data_integrity(document, did_provider, now=NOW).failures] == ["structure"]


def test_a_key_of_another_controller_is_refused(content: CredentialContent, did_provider: Any) -> None:
    attacker = generate_ed25519()
    forged = sign_data_integrity(build_ob3(content), attacker, did_key_verification_method(attacker.public_key()))
    result = verify_data_integrity(forged, did_provider, now=NOW)
    assert [c.code for c in result.failures] == ["key"]
    assert DID in result.failures[0].message


def test_signing_twice_is_refused(signed: dict[str, Any], issuer_key: Ed25519PrivateKey) -> None:
    with pytest.raises(SigningError, match="already carries a proof"):
        sign_data_integrity(signed, issuer_key, KID)
