"""School credential keys (Ed25519, EdDSA): one current key per school, rotatable.

The private key is stored encrypted (``SigningKey.private_key`` is an encrypted column). A rotated
key is retired, not deleted: it stays in the school's DID document and JWKS so every credential
signed before the rotation still verifies (``unpublish_after`` stays empty for credential keys,
because a credential lives far longer than a token).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from credbridge.connector.awards.audit import audit
from credbridge.connector.issuing.formats.did import NamedKey, did_web_document, did_web_school, jwks
from credbridge.connector.issuing.formats.keys import (
    generate_ed25519,
    private_key_from_pem,
    private_key_to_pem,
    public_from_jwk,
    public_jwk,
)
from credbridge.connector.store.models import School, SigningKey
from credbridge.connector.store.secrets import Secret

PURPOSE = "credential"
ALG = "EdDSA"


@dataclass(frozen=True)
class SchoolKey:
    """A usable credential key: its name (DID fragment), verification method id and private key."""

    name: str
    verification_method: str
    private_key: Ed25519PrivateKey


def school_did(base_url: str, school: School) -> str:
    """``did:web:<host>[%3A<port>]:schools:<slug>``, served by the web layer under base_url."""
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    return did_web_school(parts.hostname or "localhost", school.slug, port=parts.port)


def _key_name(row: SigningKey) -> str:
    # kid is "<slug>/<name>" so that it is unique across schools in the shared signing_key table
    return row.kid.split("/", 1)[1]


def _rows(session: Session, school_id: int) -> list[SigningKey]:
    return list(session.scalars(
        select(SigningKey).where(SigningKey.school_id == school_id, SigningKey.purpose == PURPOSE)
        .order_by(SigningKey.id.desc())
    ))


def _new_row(session: Session, school: School, now: datetime) -> SigningKey:
    key = generate_ed25519()
    existing = len(_rows(session, school.id))
    name = f"key-{now:%Y%m%d}-{existing + 1}"
    row = SigningKey(school_id=school.id, purpose=PURPOSE, kid=f"{school.slug}/{name}", alg=ALG,
                     private_key=Secret(private_key_to_pem(key)), public_jwk=public_jwk(key.public_key()))
    session.add(row)
    session.flush()
    return row


def ensure_school_key(session: Session, school: School, *, now: datetime | None = None) -> SigningKey:
    """The school's current credential key, created on first use."""
    current = next((r for r in _rows(session, school.id) if r.retired_at is None), None)
    if current is not None:
        return current
    try:
        with session.begin_nested():
            row = _new_row(session, school, now or datetime.now(UTC))
    except IntegrityError:
        # another worker created the school's first key at the same moment; the database keeps one
        # current key per school (uq_signing_key_current_school), so use theirs
        current = next((r for r in _rows(session, school.id) if r.retired_at is None), None)
        if current is None:
            raise
        return current
    audit(session, school_id=school.id, actor="system:keys", action="credential_key.created",
          subject_type="signing_key", subject_id=row.kid)
    return row


def current_school_key(session: Session, school: School, base_url: str) -> SchoolKey:
    row = ensure_school_key(session, school)
    name = _key_name(row)
    return SchoolKey(name=name, verification_method=f"{school_did(base_url, school)}#{name}",
                     private_key=private_key_from_pem(row.private_key.reveal()))


def rotate_school_key(session: Session, school: School, *, actor: str, now: datetime | None = None) -> SigningKey:
    """Retire the current key and create a new one; the retired key stays published."""
    now = now or datetime.now(UTC)
    for row in _rows(session, school.id):
        if row.retired_at is None:
            row.retired_at = now
    new = _new_row(session, school, now)
    audit(session, school_id=school.id, actor=actor, action="credential_key.rotated",
          subject_type="signing_key", subject_id=new.kid)
    return new


def published_keys(session: Session, school: School) -> list[NamedKey]:
    """Current key first, then retired ones (all still trusted for verification)."""
    rows = _rows(session, school.id)
    rows.sort(key=lambda r: (r.retired_at is not None, -r.id))
    return [NamedKey(_key_name(r), public_from_jwk(r.public_jwk)) for r in rows]


def school_did_document(session: Session, school: School, base_url: str) -> dict[str, Any]:
    ensure_school_key(session, school)
    return did_web_document(school_did(base_url, school), published_keys(session, school))


def school_jwks(session: Session, school: School, base_url: str) -> dict[str, Any]:
    ensure_school_key(session, school)
    return jwks(published_keys(session, school), school_did(base_url, school))
