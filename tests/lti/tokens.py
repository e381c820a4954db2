"""Recorded Moodle id_tokens and a test platform key to re-sign mutated claims."""

from __future__ import annotations

import base64
import copy
import json
from functools import cache
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from credbridge.lti.launch.platform_keys import StaticKeySet
from credbridge.lti.launch.validation import ExpectedPlatform
from tests.lti.support import LTI_FIXTURES

PLATFORM = json.loads((LTI_FIXTURES / "platform.json").read_text())
MOODLE_JWKS = json.loads((LTI_FIXTURES / "moodle_jwks.json").read_text())
RECORDED = {
    "instructor": "LtiResourceLinkRequest__instructor__mikko.laine",
    "learner": "LtiResourceLinkRequest__learner__aino.virtanen",
    "learner2": "LtiResourceLinkRequest__learner__elias.korhonen",
    "deep_linking": "LtiDeepLinkingRequest__instructor__mikko.laine",
}
EXPECTED = ExpectedPlatform(issuer=PLATFORM["issuer"], client_id=PLATFORM["client_id"],
                            deployment_ids=frozenset({PLATFORM["deployment_id"]}))
TEST_KID = "test-platform-key"


def recorded(name: str) -> tuple[str, dict[str, Any]]:
    stem = RECORDED[name]
    raw = (LTI_FIXTURES / f"{stem}.jwt").read_text().strip()
    return raw, json.loads((LTI_FIXTURES / f"{stem}.json").read_text())["payload"]


@cache
def _test_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def platform_private_pem() -> bytes:
    return _test_key().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())


def platform_public_pem() -> bytes:
    return _test_key().public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)


def platform_jwks() -> dict[str, Any]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(_test_key().public_key()))
    return {"keys": [{**jwk, "kid": TEST_KID, "alg": "RS256", "use": "sig"}]}


def platform_keys() -> StaticKeySet:
    return StaticKeySet(platform_jwks())


def sign(claims: dict[str, Any], *, kid: str | None = TEST_KID, alg: str = "RS256") -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(claims, platform_private_pem(), algorithm=alg, headers=headers)


def change_claims(claims: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``claims`` with ``changes`` applied in place (``__`` for ``/`` in claim names; None removes the claim)."""
    for key, value in changes.items():
        claim = key.replace("__", "/")
        if value is None:
            claims.pop(claim, None)
        else:
            claims[claim] = value
    return claims


def mutated(name: str, **changes: Any) -> dict[str, Any]:
    """The recorded payload with claims replaced (value None = removed)."""
    _, payload = recorded(name)
    return change_claims(copy.deepcopy(payload), changes)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(claims: dict[str, Any], header: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}."
