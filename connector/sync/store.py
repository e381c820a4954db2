"""Small store helpers sync needs: learners by identity, cursors, and the evaluation hand-off."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from credbridge.connector.moodle.functions import EnrolledUser
from credbridge.connector.store.base import utcnow
from credbridge.connector.store.models import (
    Activity,
    Course,
    CourseCompetency,
    Enrolment,
    GradeItem,
    Learner,
    LearnerIdentity,
    SyncCursor,
    WorkItem,
)
from credbridge.connector.sync import evidence as ev
from credbridge.connector.sync.plan import CourseState

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


def read_course_state(session: Session, connection_id: int, moodle_course_id: int,
                      userids: Iterable[int]) -> CourseState:
    """What the planner needs to know of one stored course, in a few queries."""
    course = session.scalar(select(Course).where(Course.connection_id == connection_id,
                                                 Course.moodle_id == moodle_course_id))
    if course is None:
        raise LookupError(f"course {moodle_course_id} of connection {connection_id} is not stored yet")
    identity = select(LearnerIdentity.external_id, LearnerIdentity.learner_id).where(
        LearnerIdentity.connection_id == connection_id)
    identities: dict[str, int] = {}
    for chunk in _chunks(sorted({str(u) for u in userids})):
        identities.update(session.execute(identity.where(LearnerIdentity.external_id.in_(chunk))).all())
    enrolments = {learner_id: (active, access) for learner_id, active, access in session.execute(
        select(Enrolment.learner_id, Enrolment.active, Enrolment.lastcourseaccess).where(
            Enrolment.course_id == course.id))}
    for chunk in _chunks(sorted(enrolments)):
        for external_id, learner_id in session.execute(identity.where(LearnerIdentity.learner_id.in_(chunk))):
            identities.setdefault(external_id, learner_id)
    writer = ev.EvidenceWriter(session, connection_id)
    # comparing needs only hashes; the payloads read are those the plan looks into
    writer.load(course_id=course.id, payload_kinds=("course_completion", "quiz_attempt"))
    facts = {k: (row.content_hash, row.withdrawn, row.payload) for k, row in writer.current.items()}
    activities = list(session.scalars(select(Activity).where(Activity.course_id == course.id)))
    grademax = {g.cmid: g.grademax for g in session.scalars(
        select(GradeItem).where(GradeItem.course_id == course.id, GradeItem.itemmodule == "assign"))}
    structure = read_position(session, connection_id, str(moodle_course_id), "structure")
    return CourseState(
        course_id=course.id, idnumber=course.idnumber, identities=identities, enrolments=enrolments, facts=facts,
        cursor=read_position(session, connection_id, str(moodle_course_id), "course"),
        quizzes={a.cmid: (int((a.settings or {}).get("quizid") or a.instance or 0), dict(a.settings or {}))
                 for a in activities if a.modname == "quiz"},
        assignments={int(a.instance): (a.cmid, _decimal(grademax.get(a.cmid))) for a in activities
                     if a.modname == "assign" and a.instance},
        has_competencies=session.scalar(select(CourseCompetency.id).where(
            CourseCompetency.course_id == course.id).limit(1)) is not None,
        activities={a.cmid: (a.modname, a.name) for a in activities},
        grade_items={int(moodle_id): int(cmid) for moodle_id, cmid in session.execute(
            select(GradeItem.moodle_id, GradeItem.cmid).where(GradeItem.course_id == course.id,
                                                              GradeItem.cmid.is_not(None)))},
        hidden={int(cmid): (h.get("modname"), h.get("name", ""))
                for cmid, h in (structure.get("hidden") or {}).items()})


def _decimal(value: Any) -> Decimal | None:
    return None if value is None or value == "" else Decimal(str(value))


def learners_for(session: Session, school_id: int, connection_id: int, users: Iterable[EnrolledUser],
                 identities: dict[str, LearnerIdentity]) -> dict[int, Learner]:
    """The learner behind each Moodle user (by Moodle userid): by identity, else by idnumber or
    email within the school (so a CSV import or a second Moodle lands on the same person), else a
    new learner. ``identities`` (external id -> identity, learners loaded) gains the new identities.

    A learner this connection already knows under another user id is never matched: two accounts of
    one Moodle that share an email (siblings with a family address, where Moodle allows that) or an
    idnumber are two people, and merging them would let one's evidence earn the other's credentials.

    Three queries look up every unknown user's idnumber and email (and whether those learners are
    known here already) at once and one flush inserts the new learners, instead of queries and a
    flush per user."""
    users = list(users)
    unknown = [u for u in users if str(u.id) not in identities]
    by_idnumber: dict[str, list[Learner]] = {}
    by_email: dict[str, list[Learner]] = {}
    idnumbers = sorted({u.idnumber for u in unknown if u.idnumber})
    emails = sorted({u.email for u in unknown if u.email})
    # ascending id, so that the lowest id wins when several learners share an idnumber or email
    for chunk in _chunks(idnumbers):
        for learner in session.scalars(select(Learner).where(Learner.school_id == school_id,
                                                             Learner.idnumber.in_(chunk)).order_by(Learner.id)):
            by_idnumber.setdefault(learner.idnumber, []).append(learner)
    for chunk in _chunks(emails):
        for learner in session.scalars(select(Learner).where(Learner.school_id == school_id,
                                                             Learner.email.in_(chunk)).order_by(Learner.id)):
            by_email.setdefault(learner.email, []).append(learner)
    # ``identities`` covers this batch's users only; the candidates' other accounts here are asked for
    candidates = {lr.id: lr for group in (*by_idnumber.values(), *by_email.values()) for lr in group}
    on_connection = {ident.learner for ident in identities.values()}
    for chunk in _chunks(sorted(candidates)):
        on_connection.update(candidates[learner_id] for learner_id in session.scalars(
            select(LearnerIdentity.learner_id).where(LearnerIdentity.connection_id == connection_id,
                                                     LearnerIdentity.learner_id.in_(chunk))))

    def unclaimed(candidates: list[Learner]) -> Learner | None:
        return next((lr for lr in candidates if lr not in on_connection), None)

    learners: dict[int, Learner] = {}
    for user in users:
        ident = identities.get(str(user.id))
        if ident is not None:
            learner = ident.learner
            learner.full_name = user.fullname or learner.full_name
            # without moodle/site:viewfullnames Moodle leaves the name parts out: keep what is known
            learner.given_name = user.firstname or learner.given_name
            learner.family_name = user.lastname or learner.family_name
            learner.email = user.email or learner.email
            learner.idnumber = user.idnumber or learner.idnumber
            if user.username:
                ident.username = user.username
            learners[user.id] = learner
            continue
        learner = (unclaimed(by_idnumber.get(user.idnumber, [])) if user.idnumber else None) or (
            unclaimed(by_email.get(user.email, [])) if user.email else None)
        if learner is None:
            learner = Learner(school_id=school_id, full_name=user.fullname, given_name=user.firstname or None,
                              family_name=user.lastname or None, email=user.email, idnumber=user.idnumber)
            session.add(learner)
        on_connection.add(learner)
        ident = LearnerIdentity(connection_id=connection_id, external_id=str(user.id), username=user.username)
        ident.learner = learner  # the relationship orders the INSERTs: no flush per learner
        session.add(ident)
        identities[str(user.id)] = ident
        learners[user.id] = learner
    session.flush()
    return learners


def _chunks(values: list[Any], size: int = 500) -> Iterable[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def request_evaluation(session: Session, school_id: int | None, learner_id: int, *, reason: str,
                       course_ids: list[int] | None = None, now: datetime | None = None) -> None:
    """Queue (or re-queue) the learner for evaluation in the caller's transaction.

    One row per learner: a later request resets it to pending with a new ``requested_at``, which
    tells a worker that is evaluating the older request not to mark it done.
    """
    request_evaluations(session, school_id, [learner_id], reason=reason, course_ids=course_ids, now=now)


def request_evaluations(session: Session, school_id: int | None, learner_ids: Iterable[int], *, reason: str,
                        course_ids: list[int] | None = None, now: datetime | None = None) -> None:
    """:func:`request_evaluation` for many learners, one multi-row upsert per 200 learners."""
    now = now or utcnow()
    rows = []
    for learner_id in sorted(set(learner_ids)):
        payload = {"learner_id": learner_id, "reason": reason, "course_ids": sorted(course_ids or []),
                   "requested_at": now.isoformat()}
        rows.append({"school_id": school_id, "kind": EVALUATE, "key": f"learner:{learner_id}", "payload": payload,
                     "status": "pending", "run_after": now, "attempts": 0, "progress": {}, "created_at": now,
                     "updated_at": now})
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    for chunk in _chunks(rows, 200):
        statement = insert(WorkItem).values(chunk)
        statement = statement.on_conflict_do_update(
            index_elements=["kind", "key"],
            set_={"payload": statement.excluded.payload, "status": "pending", "run_after": now, "updated_at": now,
                  "attempts": 0})
        session.execute(statement)
