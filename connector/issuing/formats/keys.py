"""Ed25519 key material: generation, PEM bytes for the store, multibase and JWK encodings."""

from __future__ import annotations

import base64
import hashlib
import json

import base58
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from credbridge.connector.issuing.formats.errors import KeyResolutionError

# multicodec prefix of an ed25519-pub key (varint 0xed) as used by Multikey and did:key
_ED25519_PUB_PREFIX = b"\xed\x01"


def generate_ed25519() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_to_pem(key: Ed25519PrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM; the store encrypts it at rest."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def private_key_from_pem(pem: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"expected an Ed25519 private key, got {type(key).__name__}")
    return key


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_multibase(key: Ed25519PublicKey) -> str:
    """Multikey ``publicKeyMultibase``: 'z' + base58btc(0xed01 || raw key), i.e. ``z6Mk...``."""
    return "z" + base58.b58encode(_ED25519_PUB_PREFIX + raw_public(key)).decode("ascii")


def public_from_multibase(value: str) -> Ed25519PublicKey:
    if not value.startswith("z"):
        raise KeyResolutionError(f"publicKeyMultibase {value!r} is not base58btc (must start with 'z')")
    try:
        raw = base58.b58decode(value[1:])
    except ValueError as error:
        raise KeyResolutionError(f"publicKeyMultibase {value!r} is not valid base58btc") from error
    if raw[:2] != _ED25519_PUB_PREFIX or len(raw) != 34:
        raise KeyResolutionError(f"publicKeyMultibase {value!r} is not an Ed25519 public key")
    return Ed25519PublicKey.from_public_bytes(raw[2:])


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_jwk(key: Ed25519PublicKey) -> dict[str, str]:
    return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw_public(key))}


def public_from_jwk(jwk: dict[str, str]) -> Ed25519PublicKey:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or "x" not in jwk:
        raise KeyResolutionError("publicKeyJwk is not an Ed25519 OKP key")
    if "d" in jwk:
        raise KeyResolutionError("publicKeyJwk contains a private key ('d'); refusing it")
    raw = _b64url_decode(jwk["x"])
    if len(raw) != 32:
        raise KeyResolutionError("publicKeyJwk 'x' is not 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def jwk_thumbprint(key: Ed25519PublicKey) -> str:
    """RFC 7638 / RFC 8037 thumbprint (base64url SHA-256), handy as a stable key name."""
    canonical = json.dumps(public_jwk(key), sort_keys=True, separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode("ascii")).digest())
