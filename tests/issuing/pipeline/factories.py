"""Small builders for schools, learners and awards in a test database."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from credbridge.connector.issuing.pipeline.outbox import enqueue
from credbridge.connector.store.models import Award, Learner, School

SNAPSHOT: dict[str, Any] = {
    "title": {"en": "Welding basics", "hr": "Osnove zavarivanja"},
    "description": {"en": "MIG/MAG welding of thin sheet"},
    "languages": ["en", "hr"],
}


def school(session: Session, slug: str = "tsrb", **policy: Any) -> School:
    row = School(slug=slug, legal_name="Tehnička škola Ruđera Boškovića", country="HR",
                 homepage="https://tsrb.example.hr", identifiers={"OIB": "12345678901"},
                 qa_status={}, policy=policy)
    session.add(row)
    session.flush()
    return row


def learner(session: Session, school_row: School, n: int = 1) -> Learner:
    row = Learner(school_id=school_row.id, full_name=f"Ana Horvat {n}", given_name="Ana",
                  family_name=f"Horvat {n}", email=f"ana{n}@example.org", idnumber=f"S{n:05d}")
    session.add(row)
    session.flush()
    return row


def award(session: Session, school_row: School, learner_row: Learner, *, code: str = "WELD-1", version: int = 1,
          status: str = "approved", snapshot: dict[str, Any] | None = None, targets: list[str] | None = None) -> Award:
    row = Award(school_id=school_row.id, learner_id=learner_row.id, template_code=code, template_version=version,
                status=status, snapshot=snapshot or SNAPSHOT)
    session.add(row)
    session.flush()
    enqueue(session, row, school_row, targets)
    return row
