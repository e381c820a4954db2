"""Small store helpers sync needs: learners by identity, cursors, and the evaluation hand-off."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from credbridge.connector.moodle.functions import EnrolledUser
from credbridge.connector.store.base import utcnow
from credbridge.connector.store.models import Learner, LearnerIdentity, SyncCursor, WorkItem

EVALUATE = "evaluate"


def get_cursor(session: Session, connection_id: int, course_key: str, stream: str) -> SyncCursor:
    cursor = session.scalar(select(SyncCursor).where(SyncCursor.connection_id == connection_id,
                                                     SyncCursor.course_key == course_key,
                                                     SyncCursor.stream == stream))
    if cursor is None:
        cursor = SyncCursor(connection_id=connection_id, course_key=course_key, stream=stream, position={})
        session.add(cursor)
    return cursor


def read_position(session: Session, connection_id: int, course_key: str, stream: str) -> dict[str, Any]:
    position = session.scalar(select(SyncCursor.position).where(SyncCursor.connection_id == connection_id,
                                                                SyncCursor.course_key == course_key,
                                                                SyncCursor.stream == stream))
    return dict(position or {})


def set_position(cursor: SyncCursor, **values: Any) -> None:
    cursor.position = {**(cursor.position or {}), **values}  # a new dict so the JSON column is marked dirty


def learner_for(session: Session, school_id: int, connection_id: int, user: EnrolledUser,
                identities: dict[str, LearnerIdentity]) -> Learner:
    """The learner behind a Moodle user: by identity, else by idnumber or email within the school
    (so a CSV import or a second Moodle lands on the same person), else a new learner."""
    ident = identities.get(str(user.id))
    if ident is not None:
        learner = ident.learner
        learner.full_name = user.fullname or learner.full_name
        learner.given_name, learner.family_name = user.firstname or None, user.lastname or None
        learner.email = user.email or learner.email
        learner.idnumber = user.idnumber or learner.idnumber
        if user.username:
            ident.username = user.username
        return learner
    learner = None
    if user.idnumber:
        learner = session.scalar(select(Learner).where(Learner.school_id == school_id,
                                                       Learner.idnumber == user.idnumber).limit(1))
    if learner is None and user.email:
        learner = session.scalar(select(Learner).where(Learner.school_id == school_id,
                                                       Learner.email == user.email).limit(1))
    if learner is None:
        learner = Learner(school_id=school_id, full_name=user.fullname, given_name=user.firstname or None,
                          family_name=user.lastname or None, email=user.email, idnumber=user.idnumber)
        session.add(learner)
        session.flush()
    ident = LearnerIdentity(learner_id=learner.id, connection_id=connection_id, external_id=str(user.id),
                            username=user.username)
    ident.learner = learner
    session.add(ident)
    identities[str(user.id)] = ident
    return learner


def request_evaluation(session: Session, school_id: int | None, learner_id: int, *, reason: str,
                       course_ids: list[int] | None = None, now: datetime | None = None) -> None:
    """Queue (or re-queue) the learner for evaluation in the caller's transaction.

    One row per learner: a later request resets it to pending with a new ``requested_at``, which
    tells a worker that is evaluating the older request not to mark it done.
    """
    now = now or utcnow()
    payload = {"learner_id": learner_id, "reason": reason, "course_ids": sorted(course_ids or []),
               "requested_at": now.isoformat()}
    values = {"school_id": school_id, "kind": EVALUATE, "key": f"learner:{learner_id}", "payload": payload,
              "status": "pending", "run_after": now, "attempts": 0, "progress": {}, "created_at": now,
              "updated_at": now}
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(WorkItem).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["kind", "key"],
        set_={"payload": payload, "status": "pending", "run_after": now, "updated_at": now, "attempts": 0})
    session.execute(statement)
