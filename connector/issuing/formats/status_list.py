"""W3C Bitstring Status List v1.0: the bitstring, its ``encodedList`` and the list credential.

Index 0 is the left-most (most significant) bit of the first byte, as the spec says. The encoded form
is multibase base64url ('u' prefix, no padding) of the GZIP-compressed bitstring. Which index a new
credential gets is the store's job (see :class:`IndexAllocator`); this module only takes indexes in.
"""

from __future__ import annotations

import base64
import gzip
import io
from datetime import datetime
from typing import Any, Protocol

from credbridge.connector.issuing.formats.content import iso_z
from credbridge.connector.issuing.formats.errors import StatusListError
from credbridge.connector.issuing.formats.jsonld_offline import VC_V2

MIN_BITS = 131_072  # 16 KiB: the spec's minimum, for herd privacy
PURPOSES = ("revocation", "suspension")
# A gzip bomb guard: a list this large would be 16 MiB uncompressed.
MAX_BITS = 128 * 1024 * 1024


class IndexAllocator(Protocol):
    """Implemented by the store: hand out the next unused index of a list, never twice."""

    def allocate(self, list_url: str) -> int: ...


class StatusList:
    """A mutable bitstring; ``set``/``clear``/``get`` by index."""

    def __init__(self, size: int = MIN_BITS, data: bytes | None = None) -> None:
        if size < MIN_BITS or size % 8:
            raise StatusListError(f"a status list needs at least {MIN_BITS} bits in whole bytes, got {size}")
        if data is not None and len(data) * 8 != size:
            raise StatusListError(f"status list data is {len(data) * 8} bits, expected {size}")
        self._bits = bytearray(data if data is not None else size // 8)

    @property
    def size(self) -> int:
        return len(self._bits) * 8

    def _locate(self, index: int) -> tuple[int, int]:
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < self.size:
            raise StatusListError(f"status list index {index!r} is outside 0..{self.size - 1}")
        return index // 8, 7 - index % 8

    def get(self, index: int) -> bool:
        byte, bit = self._locate(index)
        return bool(self._bits[byte] >> bit & 1)

    def set(self, index: int) -> None:
        byte, bit = self._locate(index)
        self._bits[byte] |= 1 << bit

    def clear(self, index: int) -> None:
        byte, bit = self._locate(index)
        self._bits[byte] &= ~(1 << bit) & 0xFF

    def to_bytes(self) -> bytes:
        return bytes(self._bits)

    def encode(self) -> str:
        """``encodedList``: 'u' + base64url(gzip(bitstring)) without padding."""
        compressed = gzip.compress(bytes(self._bits), mtime=0)
        return "u" + base64.urlsafe_b64encode(compressed).rstrip(b"=").decode("ascii")

    @classmethod
    def decode(cls, encoded: str) -> StatusList:
        if not isinstance(encoded, str) or not encoded.startswith("u"):
            raise StatusListError("encodedList is not multibase base64url (must start with 'u')")
        body = encoded[1:]
        try:
            compressed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            with gzip.GzipFile(fileobj=io.BytesIO(compressed)) as stream:
                raw = stream.read(MAX_BITS // 8 + 1)
        except (ValueError, OSError, EOFError) as error:
            raise StatusListError(f"encodedList cannot be decoded: {error}") from error
        if len(raw) * 8 > MAX_BITS:
            raise StatusListError("encodedList is larger than this verifier accepts")
        return cls(len(raw) * 8, raw)


def status_entry(list_url: str, index: int, purpose: str = "revocation") -> dict[str, Any]:
    """The ``credentialStatus`` object of a credential at ``index`` of the list at ``list_url``."""
    if purpose not in PURPOSES:
        raise StatusListError(f"status purpose {purpose!r} is not one of {PURPOSES}")
    return {
        "id": f"{list_url}#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": purpose,
        "statusListIndex": str(index),
        "statusListCredential": list_url,
    }


def build_status_list_credential(
    list_url: str,
    issuer: str,
    status_list: StatusList,
    valid_from: datetime,
    purpose: str = "revocation",
    valid_until: datetime | None = None,
) -> dict[str, Any]:
    """The unsigned ``BitstringStatusListCredential`` published at ``list_url``."""
    if purpose not in PURPOSES:
        raise StatusListError(f"status purpose {purpose!r} is not one of {PURPOSES}")
    credential: dict[str, Any] = {
        "@context": [VC_V2],
        "id": list_url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer,
        "validFrom": iso_z(valid_from),
        "credentialSubject": {
            "id": f"{list_url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": purpose,
            "encodedList": status_list.encode(),
        },
    }
    if valid_until:
        credential["validUntil"] = iso_z(valid_until)
    return credential
