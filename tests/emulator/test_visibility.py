"""What a role lets the sync user see, beyond the recorded calls: hidden activities, deleted ones,
suspended learners in the gradebook, and the functions each Moodle release has."""

from __future__ import annotations

import pytest

from credbridge.emulator.dataset import Site
from credbridge.emulator.roles import RECORDED_README_ROLE, SYNC_ROLE
from credbridge.emulator.server import serve_in_thread
from credbridge.emulator.ws import Principal
from tests.emulator.conftest import ws

README, SYNC = "a" * 32, "s" * 32


def tokens() -> dict[str, Principal]:
    return {README: Principal(3, RECORDED_README_ROLE), SYNC: Principal(3, SYNC_ROLE)}


def test_a_hidden_activity_answers_hidden_and_a_deleted_one_answers_missing(site: Site) -> None:
    """core_course_get_course_module tells the two apart: what sync needs before it forgets an activity."""
    site.delete_activity(8)
    with serve_in_thread(site, tokens=tokens(), debug=True) as emu:
        assert ws(emu, "core_course_get_course_module", token=README, cmid=3) == {
            "exception": "core\\exception\\require_login_exception", "errorcode": "requireloginerror",
            "message": "Course or activity not accessible.", "debuginfo": "Activity is hidden"}
        assert ws(emu, "core_course_get_course_module", token=SYNC, cmid=3)["cm"]["modname"] == "quiz"
        assert ws(emu, "core_course_get_course_module", token=SYNC, cmid=8)["message"] == \
            "Can't find data record in database table course_modules."


def test_an_activity_hidden_by_its_teacher_needs_viewhiddenactivities(site: Site) -> None:
    site.hide_activity(3)
    without = SYNC_ROLE - {"moodle/course:viewhiddenactivities"}
    with serve_in_thread(site, tokens={SYNC: Principal(3, SYNC_ROLE), README: Principal(3, without)}) as emu:
        def quizzes(token: str) -> list[int]:
            return [q["id"] for q in ws(emu, "mod_quiz_get_quizzes_by_courses", token=token,
                                        **{"courseids[0]": 2})["quizzes"]]

        assert quizzes(SYNC) == [1]
        assert quizzes(README) == []
        items = ws(emu, "gradereport_user_get_grade_items", token=README, courseid=2)["usergrades"][0]
        assert 3 not in [i["id"] for i in items["gradeitems"]]


def test_suspended_learners_in_the_all_users_gradebook(site: Site) -> None:
    """userid=0 lists a suspended enrolment only with moodle/course:viewsuspendedusers and Moodle's
    "show only active enrolments" off; asked for by id, the learner's grades come whatever the enrolment."""
    site.withdraw(5, 2, mode="suspend")
    without = SYNC_ROLE - {"moodle/course:viewsuspendedusers"}
    with serve_in_thread(site, tokens={SYNC: Principal(3, SYNC_ROLE), README: Principal(3, without)}) as emu:
        def listed(token: str) -> bool:
            report = ws(emu, "gradereport_user_get_grade_items", token=token, courseid=2)
            return 5 in [u["userid"] for u in report["usergrades"]]

        assert not listed(SYNC)  # Moodle's default: only active enrolments
        site.config.grade_report_showonlyactiveenrol = False
        assert listed(SYNC) and not listed(README)
        one = ws(emu, "gradereport_user_get_grade_items", token=README, courseid=2, userid=5)["usergrades"]
        assert [u["userid"] for u in one] == [5]
        # completion is only reported for learners with an active enrolment
        assert ws(emu, "core_completion_get_course_completion_status", token=SYNC, courseid=2,
                  userid=5)["errorcode"] == "usernotenroled"
        suspended = ws(emu, "core_enrol_get_enrolled_users", token=SYNC, courseid=2,
                       **{"options[0][name]": "onlysuspended", "options[0][value]": "1"})
        assert [u["id"] for u in suspended] == [5]


@pytest.mark.parametrize(("release", "new_attempts"), [("4.1", False), ("4.5", False), ("5.0", True)])
def test_each_release_has_its_own_functions(site: Site, release: str, new_attempts: bool) -> None:
    every = ["core_webservice_get_site_info", "core_grades_get_gradeitems", "mod_quiz_get_user_quiz_attempts",
             "mod_quiz_get_user_attempts"]
    with serve_in_thread(site, functions=every, moodle=release) as emu:
        info = ws(emu, "core_webservice_get_site_info")
        assert info["release"].startswith(release)
        listed = {f["name"] for f in info["functions"]}
        assert "mod_quiz_get_user_attempts" in listed
        assert ("mod_quiz_get_user_quiz_attempts" in listed) is new_attempts
        answer = ws(emu, "mod_quiz_get_user_quiz_attempts", quizid=1, userid=5)
        assert ("attempts" in answer) is new_attempts
        if not new_attempts:
            assert answer["errorcode"] == "invalidrecord"  # not installed at all, whatever the service says
        assert ("gradeItems" in ws(emu, "core_grades_get_gradeitems", courseid=2)) is (release != "4.1")
