"""mod_quiz_get_user_quiz_attempts (Moodle 5.0) against the deprecated mod_quiz_get_user_attempts, per
mod/quiz/classes/external.php: same parameters and attempt structure; the new one reports true
states (marks only on finished attempts), the old one hides "notstarted" attempts and reports
"submitted" ones as "finished" without marks."""

from __future__ import annotations

from credbridge.emulator.dataset import Site
from credbridge.emulator.server import serve_in_thread
from credbridge.emulator.ws import DEFAULT_SERVICE_FUNCTIONS
from tests.emulator.conftest import ws

NEW, OLD = "mod_quiz_get_user_quiz_attempts", "mod_quiz_get_user_attempts"


def states(answer: dict) -> list[tuple[int, str, object]]:
    return [(a["attempt"], a["state"], a["sumgrades"]) for a in answer["attempts"]]


def test_both_functions_answer_alike_for_the_four_classic_states(site: Site) -> None:
    site.finish_quiz_attempt(5, 3, 2.0, state="abandoned")
    site.finish_quiz_attempt(5, 3, 0.0, state="inprogress")
    with serve_in_thread(site, functions=[*DEFAULT_SERVICE_FUNCTIONS, NEW], moodle="5.0") as emu:
        for status in ("all", "finished", "unfinished"):
            new = ws(emu, NEW, quizid=1, userid=5, status=status)
            assert new == ws(emu, OLD, quizid=1, userid=5, status=status), status
        assert states(ws(emu, NEW, quizid=1, userid=5, status="all")) == [
            (1, "finished", 3), (2, "abandoned", None), (3, "inprogress", None)]
        assert [a[1] for a in states(ws(emu, NEW, quizid=1, userid=5, status="unfinished"))] == ["inprogress"]


def test_new_states_differ_between_the_two_functions(site: Site) -> None:
    notstarted = site.finish_quiz_attempt(5, 3, 0.0, state="inprogress")
    submitted = site.finish_quiz_attempt(5, 3, 0.0, state="inprogress")
    notstarted.state, submitted.state = "notstarted", "submitted"
    submitted.sumgrades = 2.0  # marked automatically, but not yet released by grading
    with serve_in_thread(site, functions=[*DEFAULT_SERVICE_FUNCTIONS, NEW], moodle="5.0") as emu:
        new = states(ws(emu, NEW, quizid=1, userid=5, status="all"))
        old = states(ws(emu, OLD, quizid=1, userid=5, status="all"))
    assert new == [(1, "finished", 3), (2, "notstarted", None), (3, "submitted", None)]
    assert old == [(1, "finished", 3), (3, "finished", None)]


def test_new_function_checks_like_the_old_one(site: Site) -> None:
    with serve_in_thread(site, functions=[*DEFAULT_SERVICE_FUNCTIONS, NEW], moodle="5.0") as emu:
        assert ws(emu, NEW, quizid=1, userid=5, status="bogus")["errorcode"] == "invalidparameter"
        assert ws(emu, NEW, quizid=999, userid=5)["errorcode"] == "invalidrecord"
        assert ws(emu, NEW, quizid=1, userid=99999)["errorcode"] == "invalidrecord"
