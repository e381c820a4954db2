"""Status-list indexes in the store: allocation (in the transaction that writes the Credential
rows) and revocation (set the bit, stamp the Credential, audit).

Bit order follows W3C Bitstring Status List v1.0 §3.2: index 0 is the left-most (most significant)
bit of the first byte. A list holds ``size_bits`` entries (131,072 by default, the spec's minimum
for herd privacy); when it fills up a new list is started.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from credbridge.connector.awards.audit import audit
from credbridge.connector.store.models import Credential, School, StatusList

DEFAULT_SIZE_BITS = 131072


class StatusAllocationError(RuntimeError):
    pass


class AlreadyRevoked(RuntimeError):
    code = "already_revoked"


def status_list_url(base_url: str, school: School, list_id: int) -> str:
    """Where the web layer publishes the BitstringStatusListCredential of one list."""
    return f"{base_url.rstrip('/')}/schools/{school.slug}/status/{list_id}"


def get_bit(bits: bytes, index: int) -> bool:
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def with_bit(bits: bytes, index: int, value: bool = True) -> bytes:
    if not 0 <= index < len(bits) * 8:
        raise StatusAllocationError(f"status index {index} is outside the list ({len(bits) * 8} bits)")
    data = bytearray(bits)
    if value:
        data[index // 8] |= 0x80 >> (index % 8)
    else:
        data[index // 8] &= ~(0x80 >> (index % 8)) & 0xFF
    return bytes(data)


def _locked_open_list(session: Session, school_id: int) -> StatusList | None:
    query = (select(StatusList)
             .where(StatusList.school_id == school_id, StatusList.full.is_(False),
                    StatusList.purpose == "revocation")
             .order_by(StatusList.id).limit(1))
    if session.get_bind().dialect.name == "postgresql":
        # serialises concurrent allocators of one school; the lock is held until their commit
        query = query.with_for_update()
    return session.scalars(query).first()


def allocate(session: Session, school_id: int, *, size_bits: int = DEFAULT_SIZE_BITS) -> tuple[StatusList, int]:
    """Reserve the next index of the school's open revocation list (creating one when needed).

    Call inside the transaction that inserts the Credential: if it rolls back, so does the index.
    """
    status_list = _locked_open_list(session, school_id)
    if status_list is None:
        # two first-ever allocations racing may each start a list; harmless (indexes are per list)
        if size_bits % 8:
            raise StatusAllocationError("size_bits must be a multiple of 8")
        status_list = StatusList(school_id=school_id, purpose="revocation", size_bits=size_bits,
                                 bits=bytes(size_bits // 8), next_index=0, full=False)
        session.add(status_list)
        session.flush()
    index = status_list.next_index
    status_list.next_index = index + 1
    if status_list.next_index >= status_list.size_bits:
        status_list.full = True
    return status_list, index


def allocate_many(session: Session, school_id: int, count: int, *,
                  size_bits: int = DEFAULT_SIZE_BITS) -> list[tuple[int, int]]:
    """``count`` consecutive entries (list id, index) of the school's open lists, with one lock and one
    update per list instead of one per credential: what a batch of deliveries reserves before signing."""
    entries: list[tuple[int, int]] = []
    while len(entries) < count:
        status_list, first = allocate(session, school_id, size_bits=size_bits)
        take = min(count - len(entries), status_list.size_bits - first)
        entries.extend((status_list.id, first + i) for i in range(take))
        status_list.next_index = first + take
        status_list.full = status_list.next_index >= status_list.size_bits
        session.flush()
    return entries


def revoke_credential(session: Session, credential: Credential, *, reason: str, actor: str,
                      now: datetime | None = None) -> None:
    """Flip the status bit (when the credential has one) and record who revoked it and why."""
    if not reason.strip():
        raise ValueError("a revocation needs a reason")
    if credential.revoked_at is not None:
        raise AlreadyRevoked(f"credential {credential.uuid} was already revoked at {credential.revoked_at}")
    now = now or datetime.now(UTC)
    if credential.status_list_id is not None and credential.status_index is not None:
        query = select(StatusList).where(StatusList.id == credential.status_list_id)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        status_list = session.scalars(query).one()
        status_list.bits = with_bit(status_list.bits, credential.status_index, True)
        status_list.updated_at = now
    credential.revoked_at = now
    credential.revocation_reason = reason
    audit(session, school_id=credential.school_id, actor=actor, action="credential.revoked",
          subject_type="credential", subject_id=credential.uuid, reason=reason, format=credential.format,
          status_list_id=credential.status_list_id, status_index=credential.status_index)


def is_revoked_in_list(session: Session, credential: Credential) -> bool:
    """What a verifier would read: the bit in the published list (not the Credential row)."""
    if credential.status_list_id is None or credential.status_index is None:
        return credential.revoked_at is not None
    status_list = session.get(StatusList, credential.status_list_id)
    return status_list is not None and get_bit(status_list.bits, credential.status_index)


def status_list_credential_jwt(session: Session, school: School, status_list: StatusList, base_url: str,
                               now: datetime | None = None) -> str:
    """The list as a BitstringStatusListCredential signed (VC-JWT) with the school's current key:
    what the web layer serves at :func:`status_list_url` and what the export writes."""
    from credbridge.connector.issuing.formats import StatusList as Bitstring
    from credbridge.connector.issuing.formats import build_status_list_credential, sign_vc_jwt
    from credbridge.connector.issuing.keys import current_school_key, school_did

    key = current_school_key(session, school, base_url)
    bitstring = Bitstring(status_list.size_bits, bytes(status_list.bits))
    credential = build_status_list_credential(status_list_url(base_url, school, status_list.id),
                                              school_did(base_url, school), bitstring,
                                              now or datetime.now(UTC))
    return sign_vc_jwt(credential, key.private_key, key.verification_method)
