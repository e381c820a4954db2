"""Console passwords (scrypt, via werkzeug which calls ``hashlib.scrypt``) and the failed-login brake.

Failed logins are counted from the audit log rather than in memory, so the limit holds across
gunicorn workers and restarts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from credbridge.connector.store.models import AuditEntry

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 12


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return generate_password_hash(password, method="scrypt")


def verify_password(password_hash: str, password: str) -> bool:
    if not password_hash.startswith("scrypt:"):
        return False  # never accept another scheme, whatever the row says
    return check_password_hash(password_hash, password)


def recent_failures(session: Session, email: str, now: datetime | None = None) -> int:
    since = (now or datetime.now(UTC)) - WINDOW
    return int(session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "admin.login_failed", AuditEntry.subject_id == email.casefold(),
        AuditEntry.at >= since)) or 0)


def is_locked(session: Session, email: str, now: datetime | None = None) -> bool:
    return recent_failures(session, email, now) >= MAX_FAILURES
