"""VC-JWT per OB 3.0 §8.2: payload = the credential + ``iss``/``jti``/``nbf``/``sub`` (+``exp``).

The JOSE header holds only ``alg`` (EdDSA), ``kid`` (the verification method id) and ``typ`` "JWT";
the 1EdTech validator rejects any other header parameter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.exceptions import DecodeError

from credbridge.connector.issuing.formats.errors import SigningError

ALGORITHM = "EdDSA"


def issuer_id(credential: dict[str, Any]) -> str:
    issuer = credential.get("issuer")
    value = issuer.get("id") if isinstance(issuer, dict) else issuer
    if not isinstance(value, str) or not value:
        raise SigningError("credential has no issuer id")
    return value


def _epoch(value: str, name: str) -> int:
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    except (AttributeError, ValueError) as error:
        raise SigningError(f"credential {name} {value!r} is not an ISO 8601 date-time") from error


def jwt_claims(credential: dict[str, Any]) -> dict[str, Any]:
    """The registered claims a VC-JWT carries for ``credential`` (also used by the verifier)."""
    claims: dict[str, Any] = {"iss": issuer_id(credential)}
    if "id" in credential:
        claims["jti"] = credential["id"]
    valid_from = credential.get("validFrom") or credential.get("issuanceDate")
    if not valid_from:
        raise SigningError("credential has no validFrom")
    claims["nbf"] = _epoch(valid_from, "validFrom")
    subject = credential.get("credentialSubject")
    if isinstance(subject, dict) and subject.get("id"):
        claims["sub"] = subject["id"]
    valid_until = credential.get("validUntil") or credential.get("expirationDate")
    if valid_until:
        claims["exp"] = _epoch(valid_until, "validUntil")
    return claims


def sign_vc_jwt(credential: dict[str, Any], private_key: Ed25519PrivateKey, kid: str) -> str:
    """Compact JWS of the credential; ``kid`` must be a verification method id of the issuer."""
    if "proof" in credential:
        raise SigningError("a VC-JWT must not embed a Data Integrity proof; sign the unsigned credential")
    if not kid.startswith(issuer_id(credential) + "#"):
        raise SigningError(f"kid {kid!r} is not a verification method of issuer {issuer_id(credential)!r}")
    payload = {**credential, **jwt_claims(credential)}
    return jwt.encode(payload, private_key, algorithm=ALGORITHM, headers={"kid": kid, "typ": "JWT"})


REGISTERED_CLAIMS = ("iss", "jti", "nbf", "sub", "exp", "iat")


def decode_unverified(token: str) -> dict[str, Any]:
    """The credential inside a VC-JWT WITHOUT checking anything — for display only, never for trust."""
    try:
        payload = jwt.decode(token.strip(), options={"verify_signature": False})
    except DecodeError as error:
        raise SigningError(f"not a JWT: {error}") from error
    return {k: v for k, v in payload.items() if k not in REGISTERED_CLAIMS}
