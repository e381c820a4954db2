"""What the teacher sees of sync's limits (issue 11): a learner whose enrolment is suspended stays in the
matrix with that state, one who left does not; the course's connection error is shown above the matrix."""

from __future__ import annotations

from sqlalchemy import select

from credbridge.connector.store.models import Course, Enrolment, LmsConnection
from tests.pages.conftest import Env


def _set_state(env: Env, learner_id: int, state: str) -> None:
    with env.db.unit_of_work() as s:
        course = s.scalar(select(Course).where(Course.connection_id == env.world.connection_a, Course.moodle_id == 2))
        enrolment = s.scalar(select(Enrolment).where(Enrolment.course_id == course.id,
                                                     Enrolment.learner_id == learner_id))
        enrolment.active, enrolment.state = state == "active", state


def test_a_suspended_learner_stays_with_that_state_and_one_who_left_does_not(env: Env) -> None:
    w = env.world
    _set_state(env, w.learner_plain, "suspended")
    _set_state(env, w.learner_full, "left")
    client = env.teacher()
    data = client.get("/teacher/course/2/matrix.json").get_json()
    enrolment = {row["id"]: row["enrolment"] for row in data["learners"]}
    assert enrolment == {w.learner_hostile: "active", w.learner_plain: "suspended"}
    page = client.get("/teacher/course/2").get_data(as_text=True)
    assert page.count("Enrolment suspended") == 1


def test_the_connection_error_is_shown_above_the_matrix(env: Env) -> None:
    client = env.teacher()
    assert 'id="connection-error"' not in client.get("/teacher/course/2").get_data(as_text=True)
    with env.db.unit_of_work() as s:
        s.get(LmsConnection, env.world.connection_a).last_error = (
            "Moodle hides 1 activity from the sync user (CNC101: quiz “CNC fundamentals quiz”): grant mod/quiz:view")
    page = client.get("/teacher/course/2").get_data(as_text=True)
    assert 'id="connection-error"' in page and "grant mod/quiz:view" in page
    assert "Moodle does not show credbridge everything in this course." in page


def test_the_console_switches_the_ags_score_and_the_email_and_the_suspended_policy(env: Env) -> None:
    from credbridge.connector.store.models import AuditEntry, School
    from tests.pages.conftest import csrf_token

    client = env.admin()
    page = client.get("/admin/connections").get_data(as_text=True)
    assert 'name="ags_score"' in page and 'name="notify_email"' in page and 'name="suspended_enrolment"' in page
    token = csrf_token(client, "/admin/connections")
    response = client.post("/admin/policy", data={"csrf_token": token, "ags_score": "off", "notify_email": "on",
                                                   "suspended_enrolment": "issue"})
    assert response.status_code == 302
    with env.db.unit_of_work() as s:
        school = s.get(School, env.world.school_a)
        assert (school.policy["ags_score"], school.policy["notify_email"], school.policy["suspended_enrolment"]) == (
            False, True, "issue")
        assert s.scalar(select(AuditEntry).where(AuditEntry.action == "school.policy_changed")) is not None
    bad = client.post("/admin/policy", data={"csrf_token": token, "notify_email": "maybe"}, follow_redirects=True)
    assert "Not saved" in bad.get_data(as_text=True)
    with env.db.unit_of_work() as s:
        assert s.get(School, env.world.school_a).policy["notify_email"] is True
    # without the CSRF token nothing changes
    assert client.post("/admin/policy", data={"ags_score": "on"}).status_code in (400, 403)


def test_a_teacher_cannot_change_the_school_policy(env: Env) -> None:
    from tests.pages.conftest import csrf_token

    client = env.teacher()
    token = csrf_token(client, "/teacher/course/2")
    assert client.post("/admin/policy", data={"csrf_token": token, "ags_score": "off"}).status_code in (302, 403)
    from credbridge.connector.store.models import School

    with env.db.unit_of_work() as s:
        assert "ags_score" not in (s.get(School, env.world.school_a).policy or {})


def test_the_console_registration_steps_match_the_readme(env: Env) -> None:
    """Issue 11: the Activity modules path, activating the pending tool, AGS and NRPS, name and e-mail."""
    from pathlib import Path

    page = env.admin().get("/admin/registrations").get_data(as_text=True)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for step in ("Site administration › Plugins › Activity modules › External tool › Manage tools",
                 "Add LTI Advantage", "Show in activity chooser and as a preconfigured tool",
                 "Use this service for grade sync and column management",
                 "Use this service to retrieve members"):
        assert step in page and step in readme, step
    assert "activate it" in page and "*Activate* it" in readme
    assert "name and e-mail" in page and "Share launcher's email with tool" in readme
