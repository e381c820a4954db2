"""One helper to append to the audit log, so every state transition of an award, an outbox item
or a credential is written the same way (actor, action, subject, details)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from credbridge.connector.store.models import AuditEntry

SYSTEM_EVALUATION = "system:evaluation"
SYSTEM_OUTBOX = "system:outbox"


def audit(
    session: Session,
    *,
    school_id: int | None,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: object,
    **details: Any,
) -> AuditEntry:
    entry = AuditEntry(school_id=school_id, actor=actor, action=action, subject_type=subject_type,
                       subject_id=str(subject_id), details=details)
    session.add(entry)
    return entry
