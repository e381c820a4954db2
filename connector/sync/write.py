"""Writing one course's fetch in one transaction: enrolments, evidence, evaluation requests, cursor.

What Moodle hid from the sync user is never taken for gone: evidence of an activity the fetch marks
hidden (or could not confirm as deleted) is kept as last seen, whatever a complete re-read of the
gradebook, the completion statuses or the assignment grades no longer shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from credbridge.connector.moodle.functions import (
    AssignGradeRow,
    EnrolledUser,
    MoodleCourse,
    QuizInfo,
    UserGrades,
)
from credbridge.connector.store.base import utcnow
from credbridge.connector.store.models import (
    Activity,
    Course,
    Enrolment,
    GradeItem,
    LearnerIdentity,
    LmsConnection,
)
from credbridge.connector.sync import evidence as ev
from credbridge.connector.sync.plan import CoursePlan, CourseState
from credbridge.connector.sync.store import get_cursor, learners_for, request_evaluations, set_position


@dataclass
class CourseFetch:
    """Everything read from Moodle for one course before its transaction opens."""

    moodle: MoodleCourse
    users: list[EnrolledUser]
    grades: list[UserGrades] | None = None
    learner_reads: dict[int, dict[str, Any]] = field(default_factory=dict)  # moodle userid -> results
    not_enrolled: set[int] = field(default_factory=set)
    gone_cmids: set[int] = field(default_factory=set)  # activities Moodle says no longer exist
    #: activities Moodle hides from the sync user, or that vanished without Moodle saying they were deleted
    spared_cmids: set[int] = field(default_factory=set)
    #: assignments whose grades Moodle refused (a warning instead of grades)
    refused_assignments: set[int] = field(default_factory=set)
    #: Moodle user ids among those who left the active roster whose enrolment is suspended or ended
    suspended: set[int] = field(default_factory=set)


def write_course(session: Session, connection_id: int, fetch: CourseFetch, state: CourseState, plan: CoursePlan,
                 assign_rows: Sequence[AssignGradeRow], *, active_window: timedelta) -> ev.WriteCounts:
    conn = session.get(LmsConnection, connection_id)
    course = session.get(Course, state.course_id)
    assert conn is not None and course is not None
    if fetch.gone_cmids:
        session.execute(delete(Activity).where(Activity.course_id == course.id, Activity.cmid.in_(fetch.gone_cmids)))
    if fetch.grades:
        idnumber = next((g.courseidnumber for g in fetch.grades if g.courseidnumber), None)
        course.idnumber = idnumber or course.idnumber
    writer = ev.EvidenceWriter(session, connection_id)
    writer.load(course_id=course.id)
    learner_of = _enrolments(session, conn, course, fetch)
    students = {learner_of[u] for u in plan.students if u in learner_of}
    _gradebook(session, writer, course, fetch, learner_of, students)
    _assignment_grades(session, writer, course, fetch, plan, learner_of, students, assign_rows)
    awaiting = _learner_reads(writer, course, fetch, state, learner_of)
    writer.flush()
    request_evaluations(session, conn.school_id, writer.counts.learners, reason="evidence_changed",
                        course_ids=[course.id])
    cursor = get_cursor(session, connection_id, str(fetch.moodle.id), "course")
    now = utcnow()
    position: dict[str, Any] = {"synced_at": now.isoformat(), "awaiting_cron": sorted(awaiting)}
    if plan.visited:
        position["active_until"] = (now + active_window).isoformat()
    if plan.full:
        position["full_at"], position["reread"] = position["synced_at"], False
    set_position(cursor, **position)
    return writer.counts


def _enrolments(session: Session, conn: LmsConnection, course: Course, fetch: CourseFetch) -> dict[int, int]:
    """Learners of the active roster (created or matched) and their enrolments; Moodle user id -> learner id.

    Learners no longer actively enrolled keep their evidence as last seen, not withdrawn: what they
    achieved while enrolled still holds, and withdrawing it would read as a regression and revoke
    credentials earned. Their enrolment says why they left the roster: ``suspended`` (suspended or ended
    in Moodle, still enrolled: shown to teachers, issued by school policy) or ``left``."""
    roster = [u for u in fetch.users if u.id not in fetch.not_enrolled]
    identities = {i.external_id: i for i in session.scalars(
        select(LearnerIdentity).options(selectinload(LearnerIdentity.learner)).where(
            LearnerIdentity.connection_id == conn.id,
            LearnerIdentity.external_id.in_([str(u.id) for u in fetch.users])))}
    enrolments = {e.learner_id: e for e in session.scalars(select(Enrolment).where(Enrolment.course_id == course.id))}
    learners = learners_for(session, conn.school_id, conn.id, roster, identities)
    learner_of: dict[int, int] = {}
    for u in roster:
        learner = learners[u.id]
        learner_of[u.id] = learner.id
        enrolment = enrolments.get(learner.id)
        if enrolment is None:
            enrolment = Enrolment(course_id=course.id, learner_id=learner.id)
            session.add(enrolment)
            enrolments[learner.id] = enrolment
        enrolment.active, enrolment.state, enrolment.roles = True, "active", list(u.roles)
        enrolment.lastcourseaccess = u.lastcourseaccess
    present = set(learner_of.values())
    suspended = {i.learner_id for i in session.scalars(select(LearnerIdentity).where(
        LearnerIdentity.connection_id == conn.id,
        LearnerIdentity.external_id.in_([str(u) for u in fetch.suspended])))} if fetch.suspended else set()
    for learner_id, enrolment in enrolments.items():
        if learner_id in present:
            continue
        if enrolment.active or (learner_id in suspended and enrolment.state != "suspended"):
            enrolment.active = False
            enrolment.state = "suspended" if learner_id in suspended else "left"
    return learner_of


def _gradebook(session: Session, writer: ev.EvidenceWriter, course: Course, fetch: CourseFetch,
               learner_of: dict[int, int], students: set[int]) -> None:
    """A complete re-read of the course's gradebook: upsert what it shows, withdraw what it no longer
    shows, except the items of activities Moodle hides from the sync user."""
    if fetch.grades is None:
        return
    _grade_items(session, course, fetch.grades)
    for ug in fetch.grades:
        learner_id = learner_of.get(ug.userid)
        if learner_id is None:
            continue
        for item in ug.items:
            if item.raw is not None:
                writer.upsert(ev.grade_item(learner_id, course.id, item))
    spared = {f"gi:{moodle_id}" for moodle_id, cmid in session.execute(
        select(GradeItem.moodle_id, GradeItem.cmid).where(GradeItem.course_id == course.id))
        if cmid is not None and cmid in fetch.spared_cmids}
    for learner_id in students:
        writer.withdraw_unseen(learner_id=learner_id, kinds={"grade_item"}, course_id=course.id,
                               spare=lambda row: row.source_key in spared)


def _assignment_grades(session: Session, writer: ev.EvidenceWriter, course: Course, fetch: CourseFetch,
                       plan: CoursePlan, learner_of: dict[int, int], students: set[int],
                       assign_rows: Sequence[AssignGradeRow]) -> None:
    """Assignment grades since the cursor: upsert, or withdraw a removed grade (a full sync withdraws what
    Moodle no longer reports, except grades of assignments Moodle refused or hides)."""
    activities = {a.instance: a for a in session.scalars(select(Activity).where(
        Activity.course_id == course.id, Activity.modname == "assign"))}
    grademax = {g.cmid: g.grademax for g in session.scalars(select(GradeItem).where(
        GradeItem.course_id == course.id, GradeItem.itemmodule == "assign"))}
    seen = set()
    for row in assign_rows:
        learner_id = learner_of.get(row.userid)
        if learner_id is None:
            continue
        activity = activities.get(row.assignmentid)
        cmid = activity.cmid if activity else None
        obs = ev.assignment_grade(learner_id, course.id, cmid, _decimal(grademax.get(cmid)), row)
        seen.add(obs.key)
        if row.grade is None:
            writer.withdraw(obs.key)
        else:
            writer.upsert(obs)
    if not plan.full:
        return
    for key, version in list(writer.current.items()):
        if version.kind != "assignment_grade" or key in seen or key[0] not in students:
            continue
        if version.payload.get("assignmentid") in fetch.refused_assignments \
                or version.payload.get("cmid") in fetch.spared_cmids:
            continue
        writer.withdraw(key)


def _learner_reads(writer: ev.EvidenceWriter, course: Course, fetch: CourseFetch, state: CourseState,
                   learner_of: dict[int, int]) -> list[int]:
    """Completion, attempts and competencies of the learners read; returns those awaiting Moodle's cron."""
    awaiting: list[int] = []
    spared_cm = {f"cm:{cmid}" for cmid in fetch.spared_cmids}
    for userid, result in fetch.learner_reads.items():
        learner_id = learner_of.get(userid)
        if learner_id is None:
            continue
        status = result.get("course")
        if status is not None:
            writer.upsert(ev.course_completion(learner_id, course.id, fetch.moodle.id, status))
        for row in result["activities"]:
            writer.upsert(ev.activity_completion(learner_id, course.id, row))
        writer.withdraw_unseen(learner_id=learner_id, kinds={"activity_completion"}, course_id=course.id,
                               spare=lambda row: row.source_key in spared_cm)
        if status is not None and not status.completed and status.criteria_met:
            awaiting.append(userid)  # Moodle's cron will aggregate the course completion later
        for cmid, attempts in result["attempts"].items():
            _quiz_attempts(writer, course, fetch, state, learner_id, cmid, attempts)
        if "competencies" in result:
            for row in result["competencies"]:
                if row.proficiency is not None or row.grade is not None:
                    writer.upsert(ev.competency(learner_id, course.id, fetch.moodle.id, row))
            writer.withdraw_unseen(learner_id=learner_id, kinds={"competency"}, course_id=course.id)
    return awaiting


def _quiz_attempts(writer: ev.EvidenceWriter, course: Course, fetch: CourseFetch, state: CourseState,
                   learner_id: int, cmid: int, attempts: list[Any]) -> None:
    quizid, settings = state.quizzes[cmid]
    quiz = QuizInfo(id=quizid, cmid=cmid, course=fetch.moodle.id, name="",
                    sumgrades=_decimal(settings.get("sumgrades")), grade=_decimal(settings.get("grade")),
                    settings=settings)
    keys = set()
    for attempt in attempts:
        obs = ev.quiz_attempt(learner_id, course.id, quiz, attempt)
        keys.add(obs.source_key)
        writer.upsert(obs)
    for key in sorted(writer.keys_of(learner_id)):
        row = writer.current[key]
        if row.kind == "quiz_attempt" and row.payload.get("cmid") == cmid and key[2] not in keys:
            writer.withdraw(key)


def _grade_items(session: Session, course: Course, grades: list[UserGrades]) -> None:
    existing = {g.moodle_id: g for g in session.scalars(select(GradeItem).where(GradeItem.course_id == course.id))}
    for ug in grades:
        for item in ug.items:
            row = existing.get(item.itemid)
            if row is None:
                row = GradeItem(course_id=course.id, moodle_id=item.itemid, itemtype=item.itemtype)
                session.add(row)
                existing[item.itemid] = row
            row.itemtype, row.itemmodule, row.cmid = item.itemtype, item.itemmodule, item.cmid
            row.idnumber, row.name = item.idnumber, item.itemname or ""
            row.grademax = float(item.grademax) if item.grademax is not None else None
    # a graded module's idnumber is its grade item's (Moodle keeps them equal); contents omit it
    by_cm = {g.cmid: g.idnumber for g in existing.values() if g.cmid and g.idnumber}
    if by_cm:
        for activity in session.scalars(select(Activity).where(Activity.course_id == course.id,
                                                               Activity.cmid.in_(list(by_cm)))):
            activity.idnumber = activity.idnumber or by_cm[activity.cmid]
    session.flush()


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    return Decimal(str(value))
