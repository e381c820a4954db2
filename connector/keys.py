"""The tool's own LTI signing keys (RS256): one current key, retired keys published for a grace period.

Platforms verify our deep-linking responses and service client assertions against the JWKS we
publish at ``/.well-known/jwks.json``; a rotation keeps the previous key in that set until every
token signed with it has expired (SF §6.3: rotate by overlapping keys).
"""

from __future__ import annotations

import functools
import json
import secrets as pysecrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from credbridge.connector.store.models import AuditEntry, SigningKey
from credbridge.connector.store.secrets import Secret

PURPOSE = "lti"
ALG = "RS256"
KEY_BITS = 2048
DEFAULT_GRACE = timedelta(hours=1)


@dataclass(frozen=True)
class ToolKey:
    """A usable signing key: the kid and the PEM, decrypted only for the time of signing."""

    kid: str
    private_pem: bytes
    public_jwk: dict[str, Any]

    def sign(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        return jwt.encode(claims, _loaded_key(self.private_pem), algorithm=ALG,
                          headers={"kid": self.kid, **(headers or {})})

    def __repr__(self) -> str:
        return f"ToolKey(kid={self.kid!r})"


@functools.lru_cache(maxsize=16)
def _loaded_key(pem: bytes) -> Any:
    # loading an RSA PEM runs costly consistency checks (~50 ms); sign many tokens with one load
    return serialization.load_pem_private_key(pem, password=None)


def _now() -> datetime:
    return datetime.now(UTC)


def _new_key_row() -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    kid = f"lti-{_now():%Y%m%d}-{pysecrets.token_hex(6)}"
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": kid, "alg": ALG, "use": "sig"})
    return SigningKey(school_id=None, purpose=PURPOSE, kid=kid, alg=ALG, private_key=Secret(pem),
                      public_jwk=jwk)


def _current_row(session: Session) -> SigningKey | None:
    return session.scalars(
        select(SigningKey)
        .where(SigningKey.purpose == PURPOSE, SigningKey.school_id.is_(None), SigningKey.retired_at.is_(None))
        .order_by(SigningKey.created_at.desc(), SigningKey.id.desc())
    ).first()


def ensure_tool_key(session: Session) -> SigningKey:
    """The current tool key, created on first use (a fresh install needs no key ceremony)."""
    row = _current_row(session)
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = _new_key_row()
            session.add(row)
    except IntegrityError:
        # two first launches at the same moment: the database keeps one current key (uq_signing_key_current_tool)
        row = _current_row(session)
        if row is None:
            raise
        return row
    session.add(AuditEntry(actor="system:keys", action="lti_key.created", subject_type="signing_key",
                           subject_id=row.kid, details={"alg": ALG, "bits": KEY_BITS}))
    return row


def current_tool_key(session: Session) -> ToolKey:
    row = ensure_tool_key(session)
    return ToolKey(kid=row.kid, private_pem=row.private_key.reveal(), public_jwk=dict(row.public_jwk))


def published_jwks(session: Session, *, now: datetime | None = None) -> dict[str, Any]:
    """The JWKS platforms fetch: the current key and retired keys still inside their grace period."""
    now = now or _now()
    ensure_tool_key(session)
    rows = session.scalars(
        select(SigningKey)
        .where(SigningKey.purpose == PURPOSE, SigningKey.school_id.is_(None))
        .where(or_(SigningKey.retired_at.is_(None), SigningKey.unpublish_after > now))
        .order_by(SigningKey.created_at.desc(), SigningKey.id.desc())
    ).all()
    return {"keys": [dict(r.public_jwk) for r in rows]}


def rotate_tool_key(session: Session, grace: timedelta = DEFAULT_GRACE, *, actor: str = "system:keys") -> SigningKey:
    """Make a new current key; the old one stays published for ``grace`` (tokens it signed expire)."""
    now = _now()
    old = _current_row(session)
    if old is not None:
        old.retired_at = now
        old.unpublish_after = now + grace
    new = _new_key_row()
    session.add(new)
    session.flush()
    session.add(AuditEntry(actor=actor, action="lti_key.rotated", subject_type="signing_key", subject_id=new.kid,
                           details={"retired": old.kid if old else None, "grace_seconds": int(grace.total_seconds())}))
    return new


# --- registration links -------------------------------------------------------------------------
# The Dynamic Registration URL an admin pastes into Moodle carries the school it is for, signed
# with the app secret so nobody can register a platform into another school, or into any school
# without being given a link by its admin. It expires, so a link left in an old e-mail stops working.

_SCHOOL_SALT = "credbridge-lti-register-school"
REGISTRATION_LINK_LIFETIME = timedelta(days=7)


class RegistrationLinkError(ValueError):
    """The school token of a registration link is missing, forged or expired (the message says which)."""


def school_registration_token(secret_key: str, school_id: int) -> str:
    from itsdangerous import URLSafeTimedSerializer

    return URLSafeTimedSerializer(secret_key, salt=_SCHOOL_SALT).dumps({"school": school_id})


def school_from_registration_token(secret_key: str, token: str,
                                   max_age: timedelta = REGISTRATION_LINK_LIFETIME) -> int:
    from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

    if not token:
        raise RegistrationLinkError("the registration link does not name a school")
    try:
        data = URLSafeTimedSerializer(secret_key, salt=_SCHOOL_SALT).loads(
            token, max_age=int(max_age.total_seconds()))
    except SignatureExpired as error:
        made = error.date_signed.date().isoformat() if error.date_signed else "?"
        raise RegistrationLinkError(f"the registration link (made {made}) is older than "
                                    f"{max_age.days} days") from None
    except BadSignature:
        raise RegistrationLinkError("the registration link's school token is not one this credbridge "
                                    "signed") from None
    school = data.get("school") if isinstance(data, dict) else None
    if not isinstance(school, int):
        raise RegistrationLinkError("the registration link's school token names no school")
    return school
