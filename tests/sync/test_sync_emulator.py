"""Sync against the emulated Moodle over HTTP: first sync, each kind of change, reconciliation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from credbridge.connector.store.models import (
    Activity,
    Course,
    Enrolment,
    Evidence,
    LearnerIdentity,
    LmsConnection,
    SyncCursor,
    SyncRun,
    WorkItem,
)
from tests.sync.conftest import Harness

COURSES = 3
# student enrolments in the recorded site: CNC101 30, WELD201 20, TD110 15
STUDENT_ENROLMENTS = 30 + 20 + 15


def changes(h: Harness, action) -> tuple[set, set, object]:
    before = h.snapshot()
    action()
    report = h.sync()
    after = h.snapshot()
    return after - before, before - after, report


def test_first_sync_reads_the_recorded_site(harness_any: Harness):
    harness = harness_any
    report = harness.sync()
    snap = harness.snapshot()
    kinds = {}
    for row in snap:
        kinds[row[1]] = kinds.get(row[1], 0) + 1
    assert kinds["course_completion"] == STUDENT_ENROLMENTS
    assert not any(row[4] for row in snap), "nothing is withdrawn on a first sync"
    # facts checked against the recorded WS responses (moodle-ws/*.json)
    assert (5, "course_completion", "course:2", (True,), False) in snap
    assert (5, "assignment_grade", "assign:1", ("69",), False) in snap
    assert (12, "grade_item", "gi:3", ("6.66667",), False) in snap  # quiz: scaled grade out of 10
    assert (5, "quiz_attempt", "attempt:1", ("finished", "10"), False) in snap  # 3/3 marks -> 10/10
    with harness.db.unit_of_work() as session:
        row = session.scalar(select(Evidence).where(Evidence.kind == "grade_item", Evidence.source_key == "gi:3",
                                                    Evidence.payload["raw"].as_string() == "6.66667"))
        assert row.payload["max"] == "10" and row.payload["percent"] == "66.6667"
        assert len(row.content_hash) == 64
        quiz = session.scalar(select(SyncCursor).where(SyncCursor.stream == "assign_grades"))
        assert quiz.position["since"] > 0
        evaluate = session.scalar(select(func.count()).select_from(WorkItem).where(WorkItem.kind == "evaluate"))
        assert evaluate == 30  # every learner with evidence is handed to evaluation once
        run = session.scalar(select(SyncRun))
        assert run.status == "ok" and run.ws_calls == report.ws_calls and run.evidence_new == report.counts.new
        conn = session.scalar(select(LmsConnection))
        assert "core_webservice_get_site_info" in conn.site_info["functions"]
        assert session.scalar(select(Course.idnumber).where(Course.moodle_id == 2)) == "VET-ME-CNC101"


def test_no_change_resync_makes_no_per_learner_calls(harness: Harness):
    harness.sync()
    before = harness.snapshot()
    report = harness.sync()
    assert harness.snapshot() == before
    assert report.counts.new == report.counts.changed == report.counts.withdrawn == 0
    assert report.calls == {"core_course_get_courses_by_field": 1, "mod_assign_get_grades": 1,
                            "core_enrol_get_enrolled_users": COURSES}


def test_incremental_activity_completion(harness: Harness):
    harness.sync()
    added, removed, report = changes(harness, lambda: harness.emulator.site.complete_activity(34, 1))
    assert added == {(34, "activity_completion", "cm:1", (1,), False)}
    assert removed == {(34, "activity_completion", "cm:1", (0,), False)}
    assert report.learners_read == 1


def test_incremental_new_assignment_grade(harness: Harness):
    harness.sync()
    added, removed, _ = changes(harness, lambda: harness.emulator.site.set_grade(33, 2, 55.0))
    assert added == {(33, "assignment_grade", "assign:1", ("55",), False), (33, "grade_item", "gi:1", ("55",), False),
                     (33, "grade_item", "gi:2", ("55",), False)}
    assert removed == set()


def test_incremental_reversed_grade(harness: Harness):
    harness.sync()
    added, removed, _ = changes(harness, lambda: harness.emulator.site.reverse_grade(5, 2, None))
    assert added == {(5, "activity_completion", "cm:2", (0,), False),
                     (5, "assignment_grade", "assign:1", ("69",), True),
                     (5, "grade_item", "gi:1", ("115",), False), (5, "grade_item", "gi:2", ("69",), True)}
    assert removed == {(5, "activity_completion", "cm:2", (2,), False),
                       (5, "assignment_grade", "assign:1", ("69",), False),
                       (5, "grade_item", "gi:1", ("184",), False), (5, "grade_item", "gi:2", ("69",), False)}


def test_incremental_new_enrolment(harness: Harness):
    harness.sync()
    added, removed, _ = changes(harness, lambda: harness.emulator.site.enrol(30, 3))
    assert added == {(30, "activity_completion", "cm:4", (0,), False), (30, "activity_completion", "cm:5", (0,), False),
                     (30, "activity_completion", "cm:6", (0,), False),
                     (30, "course_completion", "course:3", (False,), False)}
    assert removed == set()


@pytest.mark.parametrize("mode", ["suspend", "unenrol"])
def test_incremental_withdrawn_learner(harness: Harness, mode: str):
    harness.sync()
    before = harness.snapshot()
    added, removed, _ = changes(harness, lambda: harness.emulator.site.withdraw(6, 2, mode=mode))
    # what the learner achieved while enrolled stays as last seen (Moodle stops reporting it, and an
    # unenrolment even deletes it there); only the enrolment ends
    assert (added, removed) == (set(), set()) and harness.snapshot() == before
    with harness.db.unit_of_work() as session:
        learner = session.scalar(select(LearnerIdentity.learner_id).where(LearnerIdentity.external_id == "6"))
        active = dict(session.execute(select(Course.moodle_id, Enrolment.active).join(Course).where(
            Enrolment.learner_id == learner)).all())
    assert active[2] is False and all(active[c] for c in active if c != 2)
    # and the next sync is quiet again
    assert harness.sync().dirty_courses == 0


def test_cron_aggregated_completion_is_caught_without_a_signal(harness: Harness):
    site = harness.emulator.site
    site.aggregation_lag = None  # completions wait for the cron run, as on a real site
    harness.sync()
    for cmid in (1, 10, 2, 3):
        site.complete_activity(34, cmid)
    harness.sync()
    pending = site.run_cron(force=True)
    assert (2, 34) in pending
    added, _, _ = changes(harness, lambda: None)
    assert (34, "course_completion", "course:2", (True,), False) in added


def test_full_reconciliation_catches_what_leaves_no_signal(harness: Harness):
    harness.sync()
    added, _, _ = changes(harness, lambda: harness.emulator.site.rate_competency(7, 2, "ME-C1", 1))
    assert added == set(), "a competency rating leaves no incremental signal"
    before = harness.snapshot()
    report = harness.sync(full=True)
    after = harness.snapshot()
    assert after - before == {(7, "competency", "course:2:competency:1", (False,), False)}
    assert before - after == {(7, "competency", "course:2:competency:1", (True,), False)}
    assert report.mode == "full"


def test_incremental_then_full_agree(harness: Harness):
    site = harness.emulator.site
    harness.sync()
    site.complete_activity(31, 1)
    site.set_grade(32, 2, 80.0)
    site.reverse_grade(8, 2, 40.0)
    site.enrol(31, 4)
    site.withdraw(9, 3)
    site.finish_quiz_attempt(33, 3, 2.0)
    harness.sync()
    report = harness.sync(full=True)
    assert (report.counts.new, report.counts.changed, report.counts.withdrawn) == (0, 0, 0)


def test_versions_are_kept(harness_any: Harness):
    harness = harness_any
    harness.sync()
    harness.emulator.site.set_grade(33, 2, 55.0)
    harness.sync()
    harness.emulator.site.set_grade(33, 2, 65.0)
    harness.sync()
    with harness.db.unit_of_work() as session:
        learner = session.scalar(select(LearnerIdentity.learner_id).where(LearnerIdentity.external_id == "33"))
        rows = session.scalars(select(Evidence).where(Evidence.kind == "assignment_grade",
                                                      Evidence.learner_id == learner)
                               .order_by(Evidence.version)).all()
        assert [(r.version, r.is_current, r.payload["raw"]) for r in rows] == [(1, False, "55"), (2, True, "65")]


def test_completion_report_finds_cron_completions_without_per_learner_polling(harness: Harness):
    """A completion Moodle's cron wrote with no other trace is found through the custom report."""
    site = harness.emulator.site
    with harness.db.unit_of_work() as session:
        session.get(LmsConnection, harness.connection_id).course_filter = {"completion_report_id": 1}
    harness.sync()
    quiet = harness.sync()
    assert quiet.calls.get("core_reportbuilder_retrieve_report") == 1 and quiet.learners_read == 0
    # cron aggregates learner 34's completion (as after a teacher's gradebook override): no access, no grade change
    completion = site.course_completions[(2, 34)]
    completion.timecompleted = site.clock.tick()
    site.completion_version += 1
    added, removed, report = changes(harness, lambda: None)
    assert report.learners_read == 1
    assert added == {(34, "course_completion", "course:2", (True,), False)}
    assert removed == {(34, "course_completion", "course:2", (False,), False)}


def test_a_grade_sent_back_without_a_visit_is_read_at_the_next_hourly_recheck(harness: Harness):
    site = harness.emulator.site
    harness.sync()
    site.view_activity(34, 1)  # learner 34 visits CNC101: the course is active for a day
    harness.sync()
    # the external tool (cm 10, completion by grade) sends its grade back later: no visit, no signal
    site.complete_activity(34, 10)
    added, _, report = changes(harness, lambda: None)
    assert added == set(), "within the hour the gradebook is not read again"
    assert "gradereport_user_get_grade_items" not in report.calls
    before = harness.snapshot()
    report = harness.sync(grade_recheck=timedelta(0))  # as if the hour had passed
    added = harness.snapshot() - before
    assert {(34, "activity_completion", "cm:10", (1,), False)} <= added
    assert any(row[0] == 34 and row[1] == "grade_item" for row in added)
    # only the visited course's gradebook, and only the learner whose grades moved
    assert report.calls["gradereport_user_get_grade_items"] == 1 and report.learners_read == 1


def test_no_recheck_without_a_recent_visit(harness: Harness):
    harness.sync()
    site = harness.emulator.site
    site.complete_activity(34, 10)  # a grade with no visit since the first sync
    report = harness.sync(grade_recheck=timedelta(0))
    assert "gradereport_user_get_grade_items" not in report.calls and report.learners_read == 0
    # the visit window has closed: the nightly reconciliation catches it (as it always did)
    site.view_activity(33, 1)
    harness.sync(active_window=timedelta(0))
    site.complete_activity(33, 10)
    report = harness.sync(grade_recheck=timedelta(0))
    assert "gradereport_user_get_grade_items" not in report.calls
    before = harness.snapshot()
    harness.sync(full=True)
    assert (33, "activity_completion", "cm:10", (1,), False) in harness.snapshot() - before


def _active_until(harness: Harness, course: int) -> str | None:
    with harness.db.unit_of_work() as session:
        cursor = session.scalar(select(SyncCursor).where(SyncCursor.stream == "course",
                                                         SyncCursor.course_key == str(course)))
        return cursor.position.get("active_until")


def test_enrolling_is_not_visiting(harness: Harness):
    site = harness.emulator.site
    harness.sync()
    assert _active_until(harness, 2) is None  # a first sync sees everyone as new: not a visit
    site.enrol(31, 4)  # a new learner in TD110 (course 4) who has not opened it
    harness.sync()
    assert _active_until(harness, 4) is None
    site.view_activity(31, 7)  # now they visit
    harness.sync()
    assert _active_until(harness, 4) is not None and _active_until(harness, 2) is None


def test_a_deleted_quiz_is_forgotten_not_a_failure_of_every_sync(harness: Harness):
    # the structure is refreshed daily, so sync still knows the quiz when the learner comes back
    site = harness.emulator.site
    harness.sync()
    attempts_before = {r for r in harness.snapshot() if r[0] == 5 and r[1] == "quiz_attempt"}
    assert attempts_before, "learner 5 attempted the CNC101 quiz"
    site.delete_activity(3)  # the teacher deletes the CNC101 quiz
    site.view_activity(5, 1)  # learner 5, who attempted it, opens the course
    site.enrol(30, 4)  # an unrelated change in a later course
    report = harness.sync()
    assert report.dirty_courses >= 2
    snapshot = harness.snapshot()
    assert any(r[0] == 30 and r[2] == "course:4" for r in snapshot)  # the later course was synced
    assert {r for r in snapshot if r[0] == 5 and r[1] == "quiz_attempt"} == attempts_before  # as last seen
    with harness.db.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Activity).where(Activity.cmid == 3)) == 0
    assert "mod_quiz_get_user_attempts" not in harness.sync().calls  # not asked again
    assert harness.sync(full=True).dirty_courses >= 1  # and the nightly reconciliation runs through


def test_the_structure_refresh_drops_deleted_activities(harness: Harness):
    harness.sync()
    harness.emulator.site.delete_activity(8)  # an assignment of TD110
    harness.sync(full=True)  # refreshes every course's structure
    with harness.db.unit_of_work() as session:
        cmids = set(session.scalars(select(Activity.cmid).join(Course).where(Course.moodle_id == 4)))
    assert cmids == {7, 9}
