"""The typed answers MoodleApi builds from the recorded Moodle 4.5 responses."""

from __future__ import annotations

from decimal import Decimal

from credbridge.connector.moodle.functions import MoodleApi, WsFunction, to_decimal
from tests.moodle.conftest import json_reply
from tests.moodle.test_client import client, fixture


def api_with(scripted, name: str) -> MoodleApi:
    scripted.reply(json_reply(fixture(name)))
    return MoodleApi(client(scripted.url))


def test_to_decimal_is_exact():
    assert to_decimal("69.00000") == Decimal("69.00000")
    assert to_decimal(6.66667) == Decimal("6.66667")
    assert to_decimal(None) is None and to_decimal("") is None and to_decimal("abc") is None
    assert to_decimal(float("nan")) is None


def test_site_info(scripted):
    info = api_with(scripted, "core_webservice_get_site_info__noargs.json").site_info()
    assert info.release.startswith("4.5") and info.major_minor == (4, 5)
    assert "gradereport_user_get_grade_items" in info.functions


def test_grade_items_for_all_users(scripted):
    users = api_with(scripted, "gradereport_user_get_grade_items__courseid=2.json").grade_items(2)
    assert len(users) == 30 and users[0].courseidnumber == "VET-ME-CNC101"
    noah = next(u for u in users if u.userid == 12)
    quiz = next(i for i in noah.items if i.itemmodule == "quiz")
    assert (quiz.raw, quiz.grademax, quiz.cmid, quiz.dategraded) == (Decimal("6.66667"), Decimal(10), 3, 1795316236)
    lti = next(i for i in noah.items if i.itemmodule == "lti")
    assert lti.raw is None


def test_assign_grades_parse_strings_and_drop_ungraded(scripted):
    rows = api_with(scripted, "mod_assign_get_grades__assignmentids=all3.json").assign_grades([1, 2, 3])
    first = next(r for r in rows if r.assignmentid == 1 and r.userid == 5)
    assert first.grade == Decimal("69.00000") and first.timemodified == 1795316235
    assert scripted.requests[0]["form"][3:] == [("assignmentids[0]", "1"), ("assignmentids[1]", "2"),
                                                ("assignmentids[2]", "3"), ("since", "0")]


def test_quiz_settings_keep_supervision_facts_but_not_the_password(scripted):
    quizzes = api_with(scripted, "mod_quiz_get_quizzes_by_courses__courseids=all3.json").quizzes([2, 3, 4])
    quiz = next(q for q in quizzes if q.id == 1)
    assert (quiz.cmid, quiz.sumgrades, quiz.grade) == (3, Decimal(3), Decimal(10))
    assert quiz.settings["seb_required"] is False and quiz.settings["access_rules"] == []
    assert quiz.settings["timelimit"] == 0 and "password" not in quiz.settings


def test_completion_and_attempts(scripted):
    status = api_with(scripted, "core_completion_get_course_completion_status__courseid=2_userid=5.json") \
        .course_completion(2, 5)
    assert status.completed and status.timecompleted and status.criteria_met
    rows = api_with(scripted, "core_completion_get_activities_completion_status__courseid=2_userid=5.json") \
        .activities_completion(2, 5)
    assert {(r.cmid, r.state) for r in rows} >= {(1, 1), (2, 2)}
    attempts = api_with(scripted, "mod_quiz_get_user_attempts__quizid=1_userid=5.json").quiz_attempts(1, 5)
    assert [(a.attempt, a.state, a.sumgrades) for a in attempts] == [(1, "finished", Decimal(3))]


def test_enrolled_users_and_competencies(scripted):
    users = api_with(scripted, "core_enrol_get_enrolled_users__courseid=2.json").enrolled_users(2)
    aino = next(u for u in users if u.id == 5)
    assert (aino.idnumber, aino.roles, aino.lastcourseaccess) == ("STU-2026-001", ("student",), 1795316249)
    comps = api_with(scripted, "report_competency_data_for_report__courseid=2_userid=5.json").user_competencies(2, 5)
    assert comps and all(c.idnumber for c in comps)
    listed = api_with(scripted, "core_competency_list_course_competencies__id=2.json").course_competencies(2)
    assert listed[0].idnumber == "ME-C1"


def test_attempts_through_the_45_function_drop_attempts_not_started(scripted):
    recorded = fixture("mod_quiz_get_user_attempts__quizid=1_userid=5.json")
    finished = recorded["attempts"][0]
    body = {"attempts": [finished, {**finished, "id": 90, "attempt": 2, "state": "notstarted", "sumgrades": None},
                         {**finished, "id": 91, "attempt": 3, "state": "submitted", "sumgrades": None}],
            "warnings": []}
    scripted.reply(json_reply(body))
    attempts = MoodleApi(client(scripted.url)).quiz_attempts(1, 5, function=WsFunction.QUIZ_USER_ATTEMPTS)
    assert [(a.attempt, a.state, a.sumgrades) for a in attempts] == [(1, "finished", Decimal(3)),
                                                                     (3, "submitted", None)]
    form = dict(scripted.requests[-1]["form"])
    assert form["wsfunction"] == "mod_quiz_get_user_quiz_attempts"
    assert (form["quizid"], form["userid"], form["status"], form["includepreviews"]) == ("1", "5", "all", "0")
