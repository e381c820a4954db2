"""The sync planner on its own: which courses and learners are read, and why, without a database or a
Moodle (connector/sync/plan.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from credbridge.connector.moodle.functions import AssignGradeRow, EnrolledUser, GradeResult, UserGrades
from credbridge.connector.sync import evidence as ev
from credbridge.connector.sync.plan import CourseState, Signals, learners_to_read, plan_course

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
RECHECK = timedelta(hours=1)


def user(uid: int, access: int | None = 100, roles: tuple[str, ...] = ("student",)) -> EnrolledUser:
    return EnrolledUser(id=uid, username=f"u{uid}", firstname="A", lastname="B", fullname="A B", email=None,
                        idnumber=f"ID{uid}", lastcourseaccess=access, roles=roles)


def item(itemid: int, raw: str | None, cmid: int | None = None) -> GradeResult:
    return GradeResult(itemid=itemid, itemname="x", itemtype="mod" if cmid else "course", itemmodule=None,
                       iteminstance=None, cmid=cmid, idnumber=None, raw=Decimal(raw) if raw else None,
                       grademin=Decimal(0), grademax=Decimal(100), dategraded=5, overridden=False)


def state(**changes) -> CourseState:
    """Learners 5 and 6 (ids 50, 60) known and active, synced an hour ago, nothing else."""
    fields = {"course_id": 1, "idnumber": "C1", "identities": {"5": 50, "6": 60},
              "enrolments": {50: (True, 100), 60: (True, 100)}, "facts": {},
              "cursor": {"synced_at": (NOW - timedelta(minutes=15)).isoformat()}, "quizzes": {},
              "assignments": {}, "has_competencies": False}
    fields.update(changes)
    return CourseState(**fields)


def plan(st: CourseState, users: list[EnrolledUser], *, full: bool = False, **signals):
    return plan_course(st, Signals(users=users, now=NOW, **signals), full=full, grade_recheck=RECHECK)


def test_a_quiet_course_is_not_read():
    p = plan(state(), [user(5), user(6)])
    assert not p.dirty and p.reasons == ()
    assert learners_to_read(state(), p, None).userids == []


@pytest.mark.parametrize(("users", "reason"), [
    ([user(5), user(6), user(7)], "new learners"),
    ([user(5, access=200), user(6)], "lastcourseaccess moved"),
    ([user(5)], "learners left"),
])
def test_each_roster_signal_makes_the_course_dirty(users, reason):
    p = plan(state(), users)
    assert p.reasons == (reason,)


def test_teachers_are_not_students():
    p = plan(state(), [user(5), user(6), user(9, roles=("editingteacher",))])
    assert p.students == {5, 6} and 9 in p.new


def test_a_learner_who_left_is_gone_by_learner_id():
    assert plan(state(), [user(6)]).gone == {50}


def test_a_returning_learner_is_new_again():
    st = state(enrolments={50: (False, 100), 60: (True, 100)})
    p = plan(st, [user(5), user(6)])
    assert p.new == {5} and p.gone == frozenset()


def test_never_synced_and_full_and_reappeared_activities_read_everything():
    assert plan(state(cursor={}), [user(5), user(6)]).reasons == ("never synced",)
    full = plan(state(), [user(5), user(6)], full=True)
    assert full.full and full.reasons == ("full reconciliation",)
    reappeared = plan(state(cursor={"synced_at": NOW.isoformat(), "reread": True}), [user(5), user(6)])
    assert reappeared.full and reappeared.reasons == ("hidden activities became visible",)
    assert learners_to_read(state(), reappeared, None).reasons == {5: ("full reconciliation",),
                                                                   6: ("full reconciliation",)}


def test_an_assignment_grade_counts_only_when_it_differs_from_the_stored_one():
    row = AssignGradeRow(assignmentid=3, userid=5, grade=Decimal("70"), attemptnumber=0, timemodified=9)
    stored = ev.assignment_grade(50, 1, 30, Decimal(100), row)
    same = state(assignments={3: (30, Decimal(100))},
                 facts={stored.key: (ev.content_hash(stored.payload), False, {})})
    assert plan(same, [user(5), user(6)], assign_rows=[row]).assign == frozenset()
    changed = AssignGradeRow(assignmentid=3, userid=5, grade=Decimal("80"), attemptnumber=0, timemodified=10)
    p = plan(same, [user(5), user(6)], assign_rows=[changed])
    assert p.assign == {5} and p.reasons == ("assignment grades",)
    removed = AssignGradeRow(assignmentid=3, userid=5, grade=None, attemptnumber=0, timemodified=11)
    assert plan(same, [user(5), user(6)], assign_rows=[removed]).assign == {5}
    left = AssignGradeRow(assignmentid=3, userid=8, grade=Decimal("50"), attemptnumber=0, timemodified=11)
    assert plan(same, [user(5), user(6)], assign_rows=[left]).assign == frozenset()  # not enrolled now


def test_the_gradebook_is_rechecked_hourly_for_a_day_after_a_visit():
    visited = {"synced_at": (NOW - timedelta(hours=2)).isoformat(),
               "active_until": (NOW + timedelta(hours=20)).isoformat()}
    assert plan(state(cursor=visited), [user(5), user(6)]).reasons == ("gradebook recheck after a visit",)
    recent = {**visited, "synced_at": (NOW - timedelta(minutes=10)).isoformat()}
    assert not plan(state(cursor=recent), [user(5), user(6)]).dirty
    expired = {**visited, "active_until": (NOW - timedelta(minutes=1)).isoformat()}
    assert not plan(state(cursor=expired), [user(5), user(6)]).dirty


def test_a_visit_is_remembered_but_enrolling_is_not_a_visit():
    assert plan(state(), [user(5, access=200), user(6)]).visited
    assert not plan(state(), [user(5), user(6), user(7, access=None)]).visited
    assert not plan(state(cursor={}), [user(7, access=300)]).visited  # a first sync sees everyone as new


def test_learners_read_and_why():
    completed = {(50, "course_completion", "course:1"): ("h", False, {"completed": True})}
    st = state(facts=completed, cursor={"synced_at": NOW.isoformat(), "awaiting_cron": [6]})
    p = plan(st, [user(5, access=200), user(6), user(7)])
    grades = [UserGrades(userid=6, courseid=1, courseidnumber=None, items=(item(1, "50"),))]
    reads = learners_to_read(st, p, grades)
    # 5 visited but is complete: not read; 6 waits for cron and has a new grade; 7 is new
    assert reads.reasons == {6: ("grades changed", "awaiting Moodle's cron"), 7: ("new",)}
    assert reads.grade_changed == {6}


def test_an_unchanged_gradebook_reads_nobody():
    graded = item(1, "50")
    stored = ev.grade_item(50, 1, graded)
    st = state(facts={stored.key: (ev.content_hash(stored.payload), False, {})},
               cursor={"synced_at": NOW.isoformat(), "awaiting_cron": []})
    p = plan(st, [user(5, access=200), user(6)])
    completed = {**st.facts, (50, "course_completion", "course:1"): ("h", False, {"completed": True})}
    st = state(facts=completed, cursor=st.cursor)
    grades = [UserGrades(userid=5, courseid=1, courseidnumber=None, items=(graded,))]
    assert learners_to_read(st, p, grades).userids == []


def test_the_completion_report_reads_who_it_lists_as_complete():
    p = plan(state(), [user(5), user(6)], reported=frozenset({"ID6"}))
    assert p.report == {6} and p.reasons == ("completion report",)
    assert learners_to_read(state(), p, None).reasons == {6: ("completion report",)}
