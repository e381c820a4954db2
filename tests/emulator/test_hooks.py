"""Mutation hooks change what the WS functions report, the way Moodle would show it."""

from __future__ import annotations

import pytest

from credbridge.emulator.dataset import Site, SiteError
from credbridge.emulator.server import RunningEmulator
from tests.emulator.conftest import ws

EVA = 34  # CNC101 student #30: enrolled, no activity at all
CHLOE = 15  # CNC101 student #11: page + assignment done, quiz missing
PAGE, ASSIGN, QUIZ, LTI = 1, 2, 3, 10


def course_status(emu: RunningEmulator, userid: int, courseid: int = 2) -> dict:
    return ws(emu, "core_completion_get_course_completion_status", courseid=courseid, userid=userid)


def activity(emu: RunningEmulator, userid: int, cmid: int, courseid: int = 2) -> dict:
    statuses = ws(emu, "core_completion_get_activities_completion_status", courseid=courseid,
                  userid=userid)["statuses"]
    return next(s for s in statuses if s["cmid"] == cmid)


def test_complete_every_activity_completes_the_course(emulator: RunningEmulator, site: Site) -> None:
    assert course_status(emulator, EVA)["completionstatus"]["completed"] is False
    for cmid in (PAGE, ASSIGN, QUIZ):
        site.complete_activity(EVA, cmid)
    assert activity(emulator, EVA, PAGE)["state"] == 1
    assert activity(emulator, EVA, ASSIGN)["state"] == 2
    quiz = activity(emulator, EVA, QUIZ)
    assert quiz["state"] == 2 and quiz["isoverallcomplete"] is True
    status = course_status(emulator, EVA)["completionstatus"]
    assert status["completed"] is True
    assert all(c["complete"] for c in status["completions"])
    assert site.course_completed_at(2, EVA) is not None


def test_cron_lag_delays_course_completion_until_run(site: Site, emulator: RunningEmulator) -> None:
    site.aggregation_lag = 3600
    site.finish_quiz_attempt(CHLOE, QUIZ, 3)
    assert activity(emulator, CHLOE, QUIZ)["state"] == 2
    # All criteria met, but Moodle's cron has not aggregated yet.
    status = course_status(emulator, CHLOE)["completionstatus"]
    assert all(c["complete"] for c in status["completions"])
    assert status["completed"] is False
    assert site.run_cron() == []  # lag not elapsed
    site.clock.advance(3601)
    assert site.run_cron() == [(2, CHLOE)]
    assert course_status(emulator, CHLOE)["completionstatus"]["completed"] is True


def test_manual_cron_only_when_lag_is_none(site: Site) -> None:
    site.aggregation_lag = None
    site.finish_quiz_attempt(CHLOE, QUIZ, 3)
    assert site.course_completed_at(2, CHLOE) is None
    assert site.run_cron() == [(2, CHLOE)]
    assert site.course_completed_at(2, CHLOE) is not None


def test_set_grade_writes_moodle_string_grade_and_bumps_timemodified(site: Site, emulator: RunningEmulator) -> None:
    before = {g["userid"]: g for g in ws(emulator, "mod_assign_get_grades", **{"assignmentids[0]": 1})
              ["assignments"][0]["grades"]}
    site.set_grade(5, ASSIGN, 72.5)
    after = {g["userid"]: g for g in ws(emulator, "mod_assign_get_grades", **{"assignmentids[0]": 1})
             ["assignments"][0]["grades"]}
    assert after[5]["grade"] == "72.50000"
    assert after[5]["timemodified"] > before[5]["timemodified"]
    assert after[5]["id"] == before[5]["id"]
    items = ws(emulator, "gradereport_user_get_grade_items", courseid=2, userid=5)["usergrades"][0]["gradeitems"]
    assign_item = next(i for i in items if i["id"] == 2)
    total = next(i for i in items if i["itemtype"] == "course")
    assert assign_item["graderaw"] == 72.5
    assert total["graderaw"] == 187.5  # 72.5 + 10 + 87 + 18


def test_assign_grades_since_filters_on_timemodified(site: Site, emulator: RunningEmulator) -> None:
    cut = site.clock.tick()
    assert ws(emulator, "mod_assign_get_grades", since=cut, **{"assignmentids[0]": 1}) == {
        "assignments": [], "warnings": [{"item": "assignment", "itemid": 1, "warningcode": "3",
                                         "message": "No grades found"}]}
    site.set_grade(6, ASSIGN, 55)
    got = ws(emulator, "mod_assign_get_grades", since=cut, **{"assignmentids[0]": 1})["assignments"]
    assert [(g["userid"], g["grade"]) for g in got[0]["grades"]] == [(6, "55.00000")]


def test_reverse_grade_recalculates_activity_completion(site: Site, emulator: RunningEmulator) -> None:
    assert activity(emulator, CHLOE, ASSIGN)["state"] == 2
    site.reverse_grade(CHLOE, ASSIGN, 30)  # below the 50 pass mark
    failed = activity(emulator, CHLOE, ASSIGN)
    assert failed["state"] == 3 and failed["isoverallcomplete"] is False
    site.reverse_grade(CHLOE, ASSIGN, None)
    removed = activity(emulator, CHLOE, ASSIGN)
    assert removed["state"] == 0
    items = ws(emulator, "gradereport_user_get_grade_items", courseid=2, userid=CHLOE)["usergrades"][0]
    assert next(i for i in items["gradeitems"] if i["id"] == 2)["graderaw"] is None


def test_reverse_grade_keeps_an_aggregated_course_completion(site: Site, emulator: RunningEmulator) -> None:
    assert course_status(emulator, 5)["completionstatus"]["completed"] is True
    site.reverse_grade(5, QUIZ, 2.0)
    assert activity(emulator, 5, QUIZ)["state"] == 3
    assert course_status(emulator, 5)["completionstatus"]["completed"] is True  # Moodle never un-completes


def test_finish_quiz_attempt_reports_raw_marks_and_scaled_best_grade(site: Site, emulator: RunningEmulator) -> None:
    site.finish_quiz_attempt(EVA, QUIZ, 1)
    site.finish_quiz_attempt(EVA, QUIZ, 2)
    attempts = ws(emulator, "mod_quiz_get_user_attempts", quizid=1, userid=EVA, status="all")["attempts"]
    assert [(a["attempt"], a["sumgrades"], a["state"]) for a in attempts] == [(1, 1, "finished"), (2, 2, "finished")]
    best = ws(emulator, "mod_quiz_get_user_best_grade", quizid=1, userid=EVA)
    assert best == {"hasgrade": True, "grade": 6.66667, "gradetopass": 6, "warnings": []}


def test_unfinished_attempt_is_listed_only_as_unfinished(site: Site, emulator: RunningEmulator) -> None:
    site.finish_quiz_attempt(EVA, QUIZ, 0, state="inprogress")
    assert ws(emulator, "mod_quiz_get_user_attempts", quizid=1, userid=EVA)["attempts"] == []
    open_ = ws(emulator, "mod_quiz_get_user_attempts", quizid=1, userid=EVA, status="unfinished")["attempts"]
    assert open_[0]["state"] == "inprogress" and open_[0]["sumgrades"] is None
    assert ws(emulator, "mod_quiz_get_user_best_grade", quizid=1, userid=EVA)["hasgrade"] is False


def test_enrol_and_withdraw(site: Site, emulator: RunningEmulator) -> None:
    site.enrol(34, 4)
    ids = [u["id"] for u in ws(emulator, "core_enrol_get_enrolled_users", courseid=4)]
    assert 34 in ids
    assert course_status(emulator, 34, 4)["completionstatus"]["completed"] is False
    site.withdraw(34, 4)  # suspend
    active = [u["id"] for u in ws(emulator, "core_enrol_get_enrolled_users", courseid=4,
                                  **{"options[0][name]": "onlyactive", "options[0][value]": "1"})]
    assert 34 not in active
    assert 34 in [u["id"] for u in ws(emulator, "core_enrol_get_enrolled_users", courseid=4)]
    site.withdraw(34, 4, mode="unenrol")
    assert 34 not in [u["id"] for u in ws(emulator, "core_enrol_get_enrolled_users", courseid=4)]
    err = course_status(emulator, 34, 4)
    assert err["errorcode"] == "usernotenroled"


def test_rate_competency_shows_in_summary(site: Site, emulator: RunningEmulator) -> None:
    site.rate_competency(EVA, 2, "ME-C2", 2, note="Shown at the machine.")
    summary = ws(emulator, "tool_lp_data_for_user_competency_summary_in_course", userid=EVA, competencyid=2,
                 courseid=2)["usercompetencysummary"]
    ucc = summary["usercompetencycourse"]
    assert (ucc["grade"], ucc["proficiency"], ucc["gradename"], ucc["proficiencyname"]) == (2, True, "Competent", "Yes")
    assert summary["evidence"][0]["note"] == "Shown at the machine."
    site.rate_competency(EVA, 2, 2, 1)
    again = ws(emulator, "tool_lp_data_for_user_competency_summary_in_course", userid=EVA, competencyid=2,
               courseid=2)["usercompetencysummary"]["usercompetencycourse"]
    assert (again["grade"], again["proficiency"]) == (1, False)
    assert again["timemodified"] > ucc["timemodified"]


def test_touch_course_bumps_timemodified_seen_with_course_update(site: Site) -> None:
    before = site.courses[2].timemodified
    assert site.touch_course(2) > before


@pytest.mark.parametrize(("call", "message"), [
    (lambda s: s.complete_activity(34, 999), "no course module with id 999"),
    (lambda s: s.set_grade(34, 5, 50), "not enrolled in course 3"),
    (lambda s: s.set_grade(5, 2, 150), "outside 0.0..100.0"),
    (lambda s: s.finish_quiz_attempt(5, 3, 4), "marks 4 outside 0..3.0"),
    (lambda s: s.finish_quiz_attempt(5, 2, 1), "is a assign, not a quiz"),
    (lambda s: s.rate_competency(5, 2, "ME-C3", 2), "not linked to course 2"),
    (lambda s: s.rate_competency(5, 2, "ME-C2", 7), "not on the framework scale"),
    (lambda s: s.withdraw(34, 4), "not enrolled in course 4"),
    (lambda s: s.withdraw(5, 2, mode="vanish"), "mode must be"),
    (lambda s: s.enrol(5, 2, role="dean"), "unknown role"),
    (lambda s: s.set_grade(5, 2, 50, itemid=11), "exactly one of cmid or itemid"),
    (lambda s: s.set_grade(5, None, 50, itemid=999), "no grade item with id 999"),
    (lambda s: s.clock.advance(-1), "cannot go backwards"),
])
def test_hooks_reject_bad_input_and_change_nothing(site: Site, call, message: str) -> None:
    grades_before = {k: (g.rawgrade, g.timemodified) for k, g in site.grades.items()}
    with pytest.raises(SiteError, match=message):
        call(site)
    assert {k: (g.rawgrade, g.timemodified) for k, g in site.grades.items()} == grades_before


def test_assignment_submission_then_grade_like_the_gradebook(site: Site, emulator: RunningEmulator) -> None:
    site.submit_assignment(EVA, ASSIGN)
    item = next(i for i in ws(emulator, "gradereport_user_get_grade_items", courseid=2, userid=EVA)
                ["usergrades"][0]["gradeitems"] if i["id"] == 2)
    assert item["graderaw"] is None and item["gradedatesubmitted"] is not None
    subs = ws(emulator, "mod_assign_get_submissions", **{"assignmentids[0]": 1})["assignments"][0]["submissions"]
    assert next(s for s in subs if s["userid"] == EVA)["gradingstatus"] == "notgraded"
    site.set_grade(EVA, ASSIGN, 64)
    item = next(i for i in ws(emulator, "gradereport_user_get_grade_items", courseid=2, userid=EVA)
                ["usergrades"][0]["gradeitems"] if i["id"] == 2)
    assert (item["graderaw"], item["gradedatesubmitted"]) == (64, None)
    assert item["gradeformatted"].endswith("64.00") and 'title="Pass"' in item["gradeformatted"]
    subs = ws(emulator, "mod_assign_get_submissions", **{"assignmentids[0]": 1})["assignments"][0]["submissions"]
    assert next(s for s in subs if s["userid"] == EVA)["gradingstatus"] == "graded"


def test_manual_grade_item(site: Site, emulator: RunningEmulator) -> None:
    site.set_grade(EVA, None, 15, itemid=11)
    items = ws(emulator, "gradereport_user_get_grade_items", courseid=2, userid=EVA)["usergrades"][0]["gradeitems"]
    assert next(i for i in items if i["id"] == 11)["graderaw"] == 15
    assert next(i for i in items if i["itemtype"] == "course")["graderaw"] == 15


def test_lagged_completion_appears_on_a_later_call_once_the_lag_passed(site: Site,
                                                                        emulator: RunningEmulator) -> None:
    site.aggregation_lag = 600
    site.finish_quiz_attempt(CHLOE, QUIZ, 3)
    assert course_status(emulator, CHLOE)["completionstatus"]["completed"] is False
    site.clock.advance(601)
    assert course_status(emulator, CHLOE)["completionstatus"]["completed"] is True


def test_grading_without_submission_creates_a_new_submission(site: Site, emulator: RunningEmulator) -> None:
    site.set_grade(EVA, ASSIGN, 80)
    subs = ws(emulator, "mod_assign_get_submissions", **{"assignmentids[0]": 1})["assignments"][0]["submissions"]
    mine = next(s for s in subs if s["userid"] == EVA)
    assert mine["status"] == "new"
    grades = ws(emulator, "mod_assign_get_grades", **{"assignmentids[0]": 1})["assignments"][0]["grades"]
    assert [g["grade"] for g in grades if g["userid"] == EVA] == ["80.00000"]
    assert [g["id"] for g in grades] == sorted(g["id"] for g in grades)
    # "Make a submission" is still unmet, so the assignment is not complete.
    assert activity(emulator, EVA, ASSIGN)["state"] == 0
