"""VC-JWT: OB 3.0 §8.2 shape, checked by independent JOSE libraries and by our verifier."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jws as joserfc_jws
from joserfc.jwk import OKPKey
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto import jws as jwcrypto_jws

from credbridge.connector.issuing.formats import build_ob3, sign_vc_jwt, verify_jwt
from credbridge.connector.issuing.formats.content import CredentialContent
from credbridge.connector.issuing.formats.did import did_key, did_key_verification_method
from credbridge.connector.issuing.formats.errors import SigningError
from credbridge.connector.issuing.formats.keys import generate_ed25519, public_jwk
from credbridge.connector.issuing.formats.vc_jwt import decode_unverified
from tests.issuing.formats.conftest import DID, KID, ROTATED_KID

NOW = datetime(2026, 7, 1, tzinfo=UTC)


def _segments(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    def part(s: str) -> dict[str, Any]:
        return json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))

    head, body, _ = token.split(".")
    return part(head), part(body)


def _forge(token: str, mutate: Any, key: Ed25519PrivateKey | None = None) -> str:
    """Re-encode the payload after ``mutate``; re-sign with ``key`` or keep the old signature."""
    header, payload = _segments(token)
    mutate(payload)
    if key is not None:
        return pyjwt.encode(payload, key, algorithm="EdDSA", headers={k: v for k, v in header.items() if k != "alg"})
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    head, _, signature = token.split(".")
    return f"{head}.{body}.{signature}"


@pytest.fixture
def token(content: CredentialContent, issuer_key: Ed25519PrivateKey) -> str:
    return sign_vc_jwt(build_ob3(content), issuer_key, KID)


def test_header_and_claims_follow_ob3_section_8_2(token: str, content: CredentialContent) -> None:
    header, payload = _segments(token)
    assert header == {"alg": "EdDSA", "kid": KID, "typ": "JWT"}
    credential = build_ob3(content)
    assert payload["iss"] == DID == credential["issuer"]["id"]
    assert payload["jti"] == content.credential_id
    assert payload["sub"] == credential["credentialSubject"]["id"]
    assert payload["nbf"] == int(content.issued_at.timestamp())
    assert payload["exp"] == int(content.valid_until.timestamp())
    assert {k: v for k, v in payload.items() if k not in ("iss", "jti", "sub", "nbf", "exp")} == credential


# RFC 9864 deprecates "EdDSA" in favour of "Ed25519", but OB 3.0 §8.2 names EdDSA.
@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
def test_joserfc_verifies_the_signature_independently(token: str, issuer_key: Ed25519PrivateKey) -> None:
    key = OKPKey.import_key(public_jwk(issuer_key.public_key()))
    compact = joserfc_jws.deserialize_compact(token, key, algorithms=["EdDSA"])
    assert json.loads(compact.payload)["iss"] == DID


def test_jwcrypto_verifies_the_signature_independently(token: str, issuer_key: Ed25519PrivateKey,
                                                        did_document: dict[str, Any]) -> None:
    published = next(m for m in did_document["verificationMethod"] if m["id"] == f"{KID}-jwk")
    key = jwcrypto_jwk.JWK(**published["publicKeyJwk"])
    verifier = jwcrypto_jws.JWS()
    verifier.deserialize(token)
    verifier.verify(key, alg="EdDSA")
    assert json.loads(verifier.payload)["jti"].startswith("urn:uuid:")


def test_jwcrypto_rejects_another_key(token: str) -> None:
    other = jwcrypto_jwk.JWK(**public_jwk(generate_ed25519().public_key()))
    verifier = jwcrypto_jws.JWS()
    verifier.deserialize(token)
    with pytest.raises(jwcrypto_jws.InvalidJWSSignature):
        verifier.verify(other, alg="EdDSA")


def test_our_verifier_accepts_it_and_lists_every_check(token: str, did_provider: Any) -> None:
    result = verify_jwt(token, did_provider, now=NOW)
    assert result.ok, result.failures
    assert [c.code for c in result.checks] == [
        "structure", "header", "key", "signature", "claims", "validity_period", "status"]
    assert result.checks[-1].outcome == "skipped"  # no status list provider given


def test_a_rotated_key_still_verifies(content: CredentialContent, rotated_key: Ed25519PrivateKey,
                                      did_provider: Any) -> None:
    assert verify_jwt(sign_vc_jwt(build_ob3(content), rotated_key, ROTATED_KID), did_provider, now=NOW).ok


def test_a_key_withdrawn_from_the_did_document_fails(content: CredentialContent, did_provider: Any) -> None:
    token = sign_vc_jwt(build_ob3(content), generate_ed25519(), f"{DID}#key-stolen")
    result = verify_jwt(token, did_provider, now=NOW)
    assert not result.ok
    assert result.failures[0].code == "key"


def test_the_jsonwebkey_entry_works_as_kid(content: CredentialContent, issuer_key: Ed25519PrivateKey,
                                           did_provider: Any) -> None:
    assert verify_jwt(sign_vc_jwt(build_ob3(content), issuer_key, f"{KID}-jwk"), did_provider, now=NOW).ok


TAMPERING = {
    "credential name": lambda p: p.update(name="Something else"),
    "achievement name": lambda p: p["credentialSubject"]["achievement"].update(name="Rocket science"),
    "EQF alignment": lambda p: p["credentialSubject"]["achievement"]["alignment"][0].update(targetCode="8"),
    "credits": lambda p: p["credentialSubject"].update(creditsEarned=60.0),
    "grade": lambda p: p["credentialSubject"]["result"][0].update(value="1"),
    "issuer name": lambda p: p["issuer"].update(name="Fake school"),
    "validUntil": lambda p: p.update(validUntil="2099-01-01T00:00:00Z"),
    "status index": lambda p: p["credentialStatus"].update(statusListIndex="8"),
    "exp claim": lambda p: p.update(exp=4102444800),
}


@pytest.mark.parametrize("mutate", TAMPERING.values(), ids=TAMPERING.keys())
def test_tampering_any_field_fails_the_signature(token: str, did_provider: Any, mutate: Any) -> None:
    result = verify_jwt(_forge(token, mutate), did_provider, now=NOW)
    assert not result.ok
    assert [c.code for c in result.failures] == ["signature"]


def test_a_resigned_forgery_by_another_key_fails(token: str, did_provider: Any) -> None:
    forged = _forge(token, lambda p: p.update(name="Forged"), key=generate_ed25519())
    assert [c.code for c in verify_jwt(forged, did_provider, now=NOW).failures] == ["signature"]


def test_a_self_issued_did_key_cannot_claim_the_school(token: str, did_provider: Any) -> None:
    attacker = generate_ed25519()
    vm = did_key_verification_method(attacker.public_key())
    forged = pyjwt.encode(_segments(token)[1], attacker, algorithm="EdDSA", headers={"kid": vm, "typ": "JWT"})
    result = verify_jwt(forged, did_provider, now=NOW)
    assert [c.code for c in result.failures] == ["key"]
    assert "does not belong to the issuer" in result.failures[0].message


def test_a_did_key_issuer_verifies_without_any_provider(content: CredentialContent) -> None:
    key = generate_ed25519()
    credential = build_ob3(content)
    credential["issuer"]["id"] = did_key(key.public_key())
    token = sign_vc_jwt(credential, key, did_key_verification_method(key.public_key()))
    assert verify_jwt(token, None, now=NOW).ok


@pytest.mark.parametrize(("headers", "problem"), [
    ({"typ": "vc+jwt"}, "typ"),
    ({"typ": "JWT", "x5u": "https://evil.example/x"}, "unexpected header"),
    ({"typ": "JWT", "jwk": {"kty": "OKP"}}, "unexpected header"),
])
def test_header_rules_are_enforced(token: str, did_provider: Any, issuer_key: Ed25519PrivateKey,
                                   headers: dict, problem: str) -> None:
    payload = _segments(token)[1]
    bad = pyjwt.encode(payload, issuer_key, algorithm="EdDSA", headers={"kid": KID, **headers})
    result = verify_jwt(bad, did_provider, now=NOW)
    assert [c.code for c in result.failures] == ["header"]
    assert problem in result.failures[0].message


def test_alg_none_is_refused(token: str, did_provider: Any) -> None:
    unsigned = pyjwt.encode(_segments(token)[1], None, algorithm="none", headers={"kid": KID, "typ": "JWT"})
    assert [c.code for c in verify_jwt(unsigned, did_provider, now=NOW).failures] == ["header"]


def test_iss_must_equal_issuer_id(token: str, did_provider: Any, issuer_key: Ed25519PrivateKey) -> None:
    bad = _forge(token, lambda p: p.update(iss="did:web:elsewhere.test"), key=issuer_key)
    result = verify_jwt(bad, did_provider, now=NOW)
    assert [c.code for c in result.failures] == ["claims"]


def test_claims_must_match_the_credential(token: str, did_provider: Any, issuer_key: Ed25519PrivateKey) -> None:
    bad = _forge(token, lambda p: p.update(nbf=p["nbf"] - 86400 * 365), key=issuer_key)
    assert [c.code for c in verify_jwt(bad, did_provider, now=NOW).failures] == ["claims"]


@pytest.mark.parametrize(("now", "message"), [
    (datetime(2026, 6, 29, tzinfo=UTC), "not valid before"),
    (datetime(2031, 7, 1, tzinfo=UTC), "expired"),
])
def test_validity_period(token: str, did_provider: Any, now: datetime, message: str) -> None:
    result = verify_jwt(token, did_provider, now=now)
    assert [c.code for c in result.failures] == ["validity_period"]
    assert message in result.failures[0].message


@pytest.mark.parametrize("garbage", ["", "a.b", "not.a.jwt", "e30.e30.", "W10.e30.sig"])
def test_garbage_is_reported_not_raised(garbage: str, did_provider: Any) -> None:
    result = verify_jwt(garbage, did_provider, now=NOW)
    assert not result.ok


def test_signing_refuses_a_kid_of_another_issuer(content: CredentialContent, issuer_key: Ed25519PrivateKey) -> None:
    with pytest.raises(SigningError, match="not a verification method of issuer"):
        sign_vc_jwt(build_ob3(content), issuer_key, "did:web:other.test#key-1")


def test_decode_unverified_returns_the_credential_for_display(token: str, content: CredentialContent) -> None:
    assert decode_unverified(token + "\n") == build_ob3(content)
    with pytest.raises(SigningError, match="not a JWT"):
        decode_unverified("garbage")
