"""Which courses and learners a sync reads, and why: a pure planner, without I/O.

Given what the store knows of a course (:class:`CourseState`, read in one short transaction) and the
cheap signals Moodle gave this sync (:class:`Signals`: the active roster with each learner's
``lastcourseaccess``, assignment grades changed since the cursor, a custom completion report), the
planner decides whether the course's gradebook is re-read (:func:`plan_course`, with the reasons) and,
once the gradebook is in, which learners' completion, attempts and competencies are read
(:func:`learners_to_read`, each with its reasons). Fetching and writing are thin steps around it in
``strategy.py`` and ``write.py``; everything here is tested without a database or a Moodle.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any

from credbridge.connector.moodle.functions import AssignGradeRow, EnrolledUser, UserGrades
from credbridge.connector.sync import evidence as ev

STUDENT_ROLES = frozenset({"student"})
#: (content hash, withdrawn, payload) of one current fact; the payload only for the kinds the plan reads
Fact = tuple[str, bool, dict[str, Any]]
Key = tuple[int, str, str]


@dataclass(frozen=True)
class CourseState:
    """What the store knows of one course."""

    course_id: int
    idnumber: str | None
    #: Moodle user id (as a string) -> learner id, for this connection
    identities: Mapping[str, int]
    #: learner id -> (actively enrolled, lastcourseaccess as last seen)
    enrolments: Mapping[int, tuple[bool, int | None]]
    #: the course's current evidence by (learner, kind, source key)
    facts: Mapping[Key, Fact]
    #: the course's sync cursor (synced_at, active_until, awaiting_cron, full_at)
    cursor: Mapping[str, Any]
    #: quiz cmid -> (quiz id, the quiz settings stored with the structure)
    quizzes: Mapping[int, tuple[int, dict[str, Any]]]
    #: assignment instance -> (cmid, grade maximum)
    assignments: Mapping[int, tuple[int | None, Decimal | None]]
    has_competencies: bool
    #: cmid -> (modname, name) of every stored activity
    activities: Mapping[int, tuple[str, str]] = field(default_factory=dict)
    #: Moodle grade item id -> cmid, for the stored grade items of activities
    grade_items: Mapping[int, int] = field(default_factory=dict)
    #: cmid -> (modname, name) of activities Moodle hides from the sync user (kept from earlier syncs)
    hidden: Mapping[int, tuple[str | None, str]] = field(default_factory=dict)

    @property
    def hidden_cmids(self) -> frozenset[int]:
        return frozenset(self.hidden)

    def learner(self, userid: int) -> int | None:
        return self.identities.get(str(userid))

    @cached_property
    def completed(self) -> frozenset[int]:
        """Learners whose course completion is on record."""
        return frozenset(k[0] for k, (_h, withdrawn, payload) in self.facts.items()
                         if k[1] == "course_completion" and not withdrawn and payload.get("completed"))

    @cached_property
    def attempted(self) -> Mapping[int, frozenset[int]]:
        """Learner -> quiz cmids with a current attempt on record."""
        found: dict[int, set[int]] = defaultdict(set)
        for (learner_id, kind, _key), (_h, withdrawn, payload) in self.facts.items():
            if kind == "quiz_attempt" and not withdrawn:
                found[learner_id].add(payload.get("cmid"))
        return {k: frozenset(v) for k, v in found.items()}


@dataclass(frozen=True)
class Signals:
    """What Moodle showed of one course this sync, before any per-course read."""

    users: Sequence[EnrolledUser]
    assign_rows: Sequence[AssignGradeRow] = ()
    #: usernames and idnumbers a custom completion report lists as complete in this course
    reported: frozenset[str] = frozenset()
    now: datetime | None = None


@dataclass(frozen=True)
class CoursePlan:
    full: bool
    students: frozenset[int]
    #: Moodle user ids new to this course (first sync: everyone), or back after leaving it
    new: frozenset[int] = frozenset()
    #: Moodle user ids whose lastcourseaccess moved
    access: frozenset[int] = frozenset()
    #: learner ids actively enrolled before and missing from the active roster now
    gone: frozenset[int] = frozenset()
    #: Moodle user ids the completion report lists as complete and the store does not
    report: frozenset[int] = frozenset()
    #: Moodle user ids whose assignment grade differs from the stored one
    assign: frozenset[int] = frozenset()
    #: Moodle user ids whose criteria were met but whose completion waits for Moodle's cron
    awaiting_cron: frozenset[int] = frozenset()
    #: a learner did something in the course: its gradebook is rechecked for a while
    visited: bool = False
    #: why the course's gradebook is read (empty: nothing moved, nothing to write)
    reasons: tuple[str, ...] = ()

    @property
    def dirty(self) -> bool:
        return bool(self.reasons)


def plan_course(state: CourseState, signals: Signals, *, full: bool, grade_recheck: timedelta) -> CoursePlan:
    """Decide whether the course is read, from its roster, access times and assignment grades."""
    users = signals.users
    students = frozenset(u.id for u in users if STUDENT_ROLES & set(u.roles))
    new, access = set(), set()
    for u in users:
        learner_id = state.learner(u.id)
        known = state.enrolments.get(learner_id) if learner_id is not None else None
        if known is None or not known[0]:
            new.add(u.id)
        elif (known[1] or 0) != (u.lastcourseaccess or 0):
            access.add(u.id)
    active = {learner_id for learner_id, (is_active, _) in state.enrolments.items() if is_active}
    gone = frozenset(active - {state.learner(u.id) for u in users})
    report = frozenset(u.id for u in users if (u.username in signals.reported or u.idnumber in signals.reported)
                       and state.learner(u.id) not in state.completed) if signals.reported else frozenset()
    assign = _assignment_changes(state, signals)
    cursor = state.cursor
    # activities Moodle hid from the sync user are visible again: what happened meanwhile left no signal
    reappeared = bool(cursor.get("reread"))
    awaiting = frozenset(int(u) for u in cursor.get("awaiting_cron", []))
    reasons = [why for why, moved in (
        ("hidden activities became visible", reappeared), ("full reconciliation", full), ("new learners", new),
        ("lastcourseaccess moved", access), ("learners left", gone), ("completion report", report),
        ("assignment grades", assign),
        ("never synced", not cursor.get("synced_at")), ("awaiting Moodle's cron", awaiting),
        ("gradebook recheck after a visit", grades_due(cursor, signals.now, grade_recheck))) if moved]
    # enrolling is not visiting, and a first sync sees every learner as new
    visited = bool(access or (cursor.get("synced_at") and any(u.lastcourseaccess for u in users if u.id in new)))
    return CoursePlan(full=full or reappeared, students=students, new=frozenset(new), access=frozenset(access),
                      gone=gone, report=report, assign=assign, awaiting_cron=awaiting, visited=visited,
                      reasons=tuple(reasons))


def _assignment_changes(state: CourseState, signals: Signals) -> frozenset[int]:
    enrolled_now = {u.id for u in signals.users}
    changed = set()
    for row in signals.assign_rows:
        if row.userid not in enrolled_now:
            continue  # a grade of someone who left: their evidence stays as it was when they left
        learner_id = state.learner(row.userid)
        if learner_id is None:
            changed.add(row.userid)
            continue
        cmid, grademax = state.assignments.get(row.assignmentid, (None, None))
        obs = ev.assignment_grade(learner_id, state.course_id, cmid, grademax, row)
        stored = state.facts.get(obs.key)
        if row.grade is None:
            if stored is not None and not stored[1]:
                changed.add(row.userid)
        elif stored is None or stored[1] or stored[0] != ev.content_hash(obs.payload):
            changed.add(row.userid)
    return frozenset(changed)


def grades_due(cursor: Mapping[str, Any], now: datetime | None, recheck: timedelta) -> bool:
    """A learner visited the course recently (seen by us, so Moodle's clock does not matter) and its
    gradebook was last read longer ago than the recheck interval: a grade may have come without a visit
    (an external tool's grade passback, a teacher grading a non-assignment)."""
    active_until, synced_at = cursor.get("active_until"), cursor.get("synced_at")
    if not active_until or not synced_at or now is None:
        return False
    return datetime.fromisoformat(active_until) > now and datetime.fromisoformat(synced_at) <= now - recheck


@dataclass(frozen=True)
class LearnerReads:
    """Learners whose completion (and attempts, competencies) are read, each with why."""

    reasons: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    #: Moodle user ids whose gradebook rows differ from the store
    grade_changed: frozenset[int] = frozenset()

    @property
    def userids(self) -> list[int]:
        return sorted(self.reasons)


def learners_to_read(state: CourseState, plan: CoursePlan, grades: Sequence[UserGrades] | None) -> LearnerReads:
    """On a full sync every learner; otherwise those whose signals or grades moved and who are not
    complete yet, and those whose completion waits for Moodle's cron."""
    grade_changed = _grade_changes(state, grades or [])
    if plan.full:
        return LearnerReads(dict.fromkeys(plan.students, ("full reconciliation",)), grade_changed)
    reasons: dict[int, list[str]] = defaultdict(list)
    for userid in plan.access | plan.new:
        if state.learner(userid) not in state.completed:
            reasons[userid].append("new" if userid in plan.new else "visited")
    for label, userids in (("grades changed", grade_changed), ("assignment grade", plan.assign),
                           ("awaiting Moodle's cron", plan.awaiting_cron), ("completion report", plan.report)):
        for userid in userids:
            reasons[userid].append(label)
    return LearnerReads({u: tuple(why) for u, why in reasons.items() if u in plan.students}, grade_changed)


def _grade_changes(state: CourseState, grades: Sequence[UserGrades]) -> frozenset[int]:
    changed = set()
    for ug in grades:
        learner_id = state.learner(ug.userid)
        if learner_id is None:
            changed.add(ug.userid)
            continue
        for item in ug.items:
            stored = state.facts.get((learner_id, "grade_item", f"gi:{item.itemid}"))
            if item.raw is None:
                if stored is not None and not stored[1]:
                    changed.add(ug.userid)
            elif stored is None or stored[1] or stored[0] != ev.content_hash(
                    ev.grade_item(learner_id, state.course_id, item).payload):
                changed.add(ug.userid)
    return frozenset(changed)
