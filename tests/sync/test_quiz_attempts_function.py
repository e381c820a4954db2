"""Quiz attempts through mod_quiz_get_user_quiz_attempts (Moodle 5.0+) where the service offers it,
through the deprecated mod_quiz_get_user_attempts otherwise; the capability check accepts either."""

from __future__ import annotations

from credbridge.connector.moodle.functions import MoodleApi, WsFunction
from credbridge.connector.sync.capabilities import check_connection
from credbridge.emulator.ws import DEFAULT_SERVICE_FUNCTIONS
from tests.sync.conftest import Harness

OLD, NEW = str(WsFunction.QUIZ_ATTEMPTS), str(WsFunction.QUIZ_USER_ATTEMPTS)


def quiz_attempts(h: Harness) -> set:
    return {e for e in h.snapshot() if e[1] == "quiz_attempt"}


def test_old_function_when_the_service_lacks_the_new_one(harness: Harness):
    assert NEW not in DEFAULT_SERVICE_FUNCTIONS  # the recorded 4.5 service
    report = harness.sync()
    assert report.calls.get(OLD, 0) > 0 and NEW not in report.calls
    assert (5, "quiz_attempt", "attempt:1", ("finished", "10"), False) in quiz_attempts(harness)


def test_new_function_reads_the_same_evidence(harness: Harness):
    harness.sync()
    before = harness.snapshot()
    harness.emulator.site.set_release("5.0")
    harness.emulator.set_functions([*DEFAULT_SERVICE_FUNCTIONS, NEW])
    report = harness.sync(full=True)  # a full sync re-reads site info, so it sees the new function
    assert report.calls.get(NEW, 0) > 0 and OLD not in report.calls
    assert (report.counts.new, report.counts.changed, report.counts.withdrawn) == (0, 0, 0)
    assert harness.snapshot() == before


def test_new_function_without_the_old_one(harness: Harness):
    harness.emulator.site.set_release("5.0")
    harness.emulator.set_functions([f for f in DEFAULT_SERVICE_FUNCTIONS if f != OLD] + [NEW])
    report = harness.sync()
    assert report.calls.get(NEW, 0) > 0 and OLD not in report.calls
    assert (5, "quiz_attempt", "attempt:1", ("finished", "10"), False) in quiz_attempts(harness)


def pending_attempts(harness: Harness) -> tuple[int, int]:
    """Learner 5 starts two more attempts at quiz 1 (cmid 3): one Moodle pre-created and the
    learner never started (notstarted, 4.5+), one submitted and awaiting grading (5.0+)."""
    site = harness.emulator.site
    first = site.finish_quiz_attempt(5, 3, 0, state="inprogress")
    second = site.finish_quiz_attempt(5, 3, 0, state="inprogress")
    first.state, second.state = "notstarted", "submitted"
    return first.id, second.id


def test_new_function_keeps_true_states_and_leaves_out_attempts_not_started(harness: Harness):
    harness.emulator.site.set_release("5.0")
    harness.emulator.set_functions([*DEFAULT_SERVICE_FUNCTIONS, NEW])
    notstarted, submitted = pending_attempts(harness)
    harness.sync()
    attempts = {e[2]: e[3] for e in quiz_attempts(harness) if e[0] == 5}
    assert f"attempt:{notstarted}" not in attempts
    assert attempts[f"attempt:{submitted}"] == ("submitted", None)  # no marks before grading
    assert attempts["attempt:1"] == ("finished", "10")


def test_old_function_reports_a_submitted_attempt_as_finished_without_marks(harness: Harness):
    notstarted, submitted = pending_attempts(harness)
    harness.sync()
    attempts = {e[2]: e[3] for e in quiz_attempts(harness) if e[0] == 5}
    assert f"attempt:{notstarted}" not in attempts
    assert attempts[f"attempt:{submitted}"] == ("finished", None)


def test_api_refuses_a_function_that_does_not_list_attempts(harness: Harness):
    api = MoodleApi(harness.client)
    try:
        api.quiz_attempts(1, 5, function=WsFunction.QUIZZES)
    except ValueError as exc:
        assert "does not list quiz attempts" in str(exc)
    else:
        raise AssertionError("quiz_attempts accepted mod_quiz_get_quizzes_by_courses")
    assert harness.client.total_calls == 0


def test_check_accepts_the_new_function_in_place_of_the_old_one(harness: Harness):
    harness.emulator.site.set_release("5.0")
    harness.emulator.set_functions([f for f in DEFAULT_SERVICE_FUNCTIONS if f != OLD] + [NEW])
    report = check_connection(MoodleApi(harness.client))
    assert report.ok, [f for f in report.findings if not f.ok]
    old = next(f for f in report.findings if f.check == f"function {OLD}")
    assert old.ok and NEW in old.detail


def test_check_fails_without_either_function_and_names_both(harness: Harness):
    harness.emulator.site.set_release("5.0")
    harness.emulator.set_functions([f for f in DEFAULT_SERVICE_FUNCTIONS if f != OLD])
    report = check_connection(MoodleApi(harness.client))
    assert not report.ok
    old = next(f for f in report.findings if f.check == f"function {OLD}")
    assert not old.ok and old.required and OLD in old.fix and NEW in old.fix
    new = next(f for f in report.findings if f.check == f"function {NEW}")
    assert not new.ok and not new.required


def test_check_with_the_recorded_service_lists_the_new_function_as_optional(harness: Harness):
    report = check_connection(MoodleApi(harness.client))
    assert report.ok
    new = next(f for f in report.findings if f.check == f"function {NEW}")
    assert new.ok and not new.required and new.detail == "not in Moodle 4.5 (since 5.0)"  # nothing to add on 4.5
    harness.emulator.site.set_release("5.0")
    report = check_connection(MoodleApi(harness.client))
    new = next(f for f in report.findings if f.check == f"function {NEW}")
    assert report.ok and not new.ok and not new.required  # on 5.0: advice to add it
