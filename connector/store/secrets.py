"""Secrets at rest: web-service tokens and private keys are stored encrypted with Fernet.

The Fernet keys are derived (HKDF-SHA256) from ``CREDBRIDGE_SECRET_KEY`` and any
``CREDBRIDGE_OLD_SECRET_KEYS``, so rotating the configured secret only needs the old one kept
until :func:`reencrypt` has rewritten the rows. Columns use :class:`EncryptedBytes` /
:class:`EncryptedText`; reading one before :func:`configure` fails loudly instead of returning
ciphertext.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import LargeBinary
from sqlalchemy.types import TypeDecorator

_HKDF_INFO = b"credbridge secrets at rest v1"
_vault: MultiFernet | None = None


class SecretsNotConfigured(RuntimeError):
    pass


class SecretDecryptionError(RuntimeError):
    """The stored secret was encrypted with a key that is not configured any more."""


def derive_fernet_key(secret: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO)
    return base64.urlsafe_b64encode(hkdf.derive(secret.encode("utf-8")))


def configure(secret_key: str, old_secret_keys: Sequence[str] = ()) -> None:
    """Install the process-wide vault; the first key encrypts, all keys decrypt."""
    global _vault
    _vault = MultiFernet([Fernet(derive_fernet_key(k)) for k in (secret_key, *old_secret_keys)])


def _require_vault() -> MultiFernet:
    if _vault is None:
        raise SecretsNotConfigured("secrets vault is not configured (CREDBRIDGE_SECRET_KEY not loaded)")
    return _vault


def encrypt(plaintext: bytes) -> bytes:
    return _require_vault().encrypt(plaintext)


def decrypt(ciphertext: bytes) -> bytes:
    try:
        return _require_vault().decrypt(ciphertext)
    except InvalidToken:
        raise SecretDecryptionError(
            "a stored secret cannot be decrypted: CREDBRIDGE_SECRET_KEY changed without keeping the old "
            "key in CREDBRIDGE_OLD_SECRET_KEYS"
        ) from None


def rotate(ciphertext: bytes) -> bytes:
    """Re-encrypt with the current key (used by `credbridge keys reencrypt`)."""
    return _require_vault().rotate(ciphertext)


class Secret:
    """A decrypted value that will not print itself by accident (logs, reprs, tracebacks)."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = value

    def reveal(self) -> bytes:
        return self._value

    def reveal_text(self) -> str:
        return self._value.decode("utf-8")

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class EncryptedBytes(TypeDecorator[Secret]):
    """A column holding Fernet ciphertext; Python sees a :class:`Secret`."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> bytes | None:
        if value is None:
            return None
        if isinstance(value, Secret):
            value = value.reveal()
        elif isinstance(value, str):
            value = value.encode("utf-8")
        return encrypt(value)

    def process_result_value(self, value: Any, dialect: Any) -> Secret | None:
        if value is None:
            return None
        return Secret(decrypt(bytes(value)))
