"""Who may see what: a teacher only their launched course, a learner only their own records, a school
only its own data; forged and expired sessions count as no session."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from credbridge.connector.store.models import Award, Credential, Enrolment, LtiRegistration
from credbridge.lti.sessions import SESSION_COOKIE
from tests.pages.conftest import HOSTILE_LEARNER, Env, csrf_token

COURSE_B_PAGES = ["/teacher/course/3", "/teacher/course/3/matrix.json"]


@pytest.mark.parametrize("path", COURSE_B_PAGES)
def test_teacher_of_course_a_gets_403_on_course_b(env: Env, path: str) -> None:
    assert env.teacher("2").get(path).status_code == 403


def test_teacher_of_course_a_cannot_act_on_course_b_awards_or_progress(env: Env) -> None:
    client = env.teacher("2")
    token = csrf_token(client, "/teacher/course/2")
    assert client.post("/teacher/course/3/sync", data={"csrf_token": token}).status_code == 403
    assert client.get("/teacher/course/3/sync/1.json").status_code == 403
    assert client.post("/teacher/course/3/awards", data={"csrf_token": token, "action": "approve",
                                                         "award_id": str(env.world.award_pending)}).status_code == 403
    assert client.get(f"/teacher/course/3/awards/{env.world.award_pending}/preview").status_code == 403


def test_award_of_a_learner_outside_the_course_is_refused(env: Env) -> None:
    # the teacher of WELD201 (course 3) names an award of a CNC101 learner
    client = env.teacher("3")
    token = csrf_token(client, "/teacher/course/3")
    response = client.post("/teacher/course/3/awards", data={"csrf_token": token, "action": "approve",
                                                             "award_id": str(env.world.award_pending)})
    assert response.status_code == 403
    with env.db.unit_of_work() as s:
        assert s.get(Award, env.world.award_pending).status == "pending_approval"
    assert client.get(f"/teacher/course/3/awards/{env.world.award_pending}/preview").status_code == 403


def test_teacher_of_school_b_does_not_see_school_a_course_with_the_same_moodle_id(env: Env) -> None:
    client = env.teacher("2", school_id=env.world.school_b)
    data = client.get("/teacher/course/2/matrix.json").get_json()
    assert [row["name"] for row in data["learners"]] == ["Beta Learner"]
    assert client.get(f"/teacher/course/2/awards/{env.world.award_pending}/preview").status_code == 403


def test_learner_cannot_open_teacher_pages(env: Env) -> None:
    client = env.learner(env.world.learner_plain)
    assert client.get("/teacher/course/2").status_code == 403
    assert client.get("/teacher/course/2/matrix.json").status_code == 403


def test_learner_sees_only_their_own_records(env: Env) -> None:
    mine = env.learner(env.world.learner_hostile).get("/learner/records.json").get_json()
    assert {a["template"] for a in mine["awards"]} == {"TD-BASICS", "CNC-OPERATOR"}
    other = env.learner(env.world.learner_plain)
    assert other.get("/learner/records.json").get_json()["awards"] == []
    assert "O&#39;Brien" not in other.get("/learner/").get_data(as_text=True)
    assert other.get(f"/learner/awards/{env.world.award_issued}").status_code == 403


def test_learner_of_school_b_cannot_open_school_a_award(env: Env) -> None:
    client = env.learner(env.world.learner_b, school_id=env.world.school_b)
    assert client.get(f"/learner/awards/{env.world.award_issued}").status_code == 404


def test_admin_of_school_b_sees_only_school_b(env: Env) -> None:
    client = env.admin(env.world.school_b)
    assert "Srednja šola Beta" in client.get("/admin/").get_data(as_text=True)
    assert "alpha" not in client.get("/admin/audit").get_data(as_text=True).lower()
    with env.db.unit_of_work() as s:
        item_ids = list(s.scalars(select(Award.id).where(Award.school_id == env.world.school_a)))
    assert item_ids
    token = csrf_token(client, "/admin/outbox")
    assert client.post("/admin/outbox/1/retry", data={"csrf_token": token}).status_code == 404
    assert client.post("/admin/connections/1/check", data={"csrf_token": token}).status_code == 404


def test_teacher_and_learner_cannot_open_the_console(env: Env) -> None:
    assert env.teacher().get("/admin/").status_code == 403
    assert env.learner(env.world.learner_plain).get("/admin/keys").status_code == 403


@pytest.mark.parametrize("path", ["/teacher/course/2", "/teacher/course/2/matrix.json", "/learner/", "/admin/"])
def test_forged_session_cookie_is_no_session(env: Env, path: str) -> None:
    client = env.client()
    session_id = env.session_for(client, roles=["instructor", "administrator", "learner"], context_id="2",
                                 learner_id=env.world.learner_hostile)
    client.set_cookie(SESSION_COOKIE, session_id + ".forged", domain="localhost")  # unsigned id
    assert client.get(path).status_code == 401


@pytest.mark.parametrize("path", ["/teacher/course/2", "/learner/", "/admin/"])
def test_expired_session_is_rejected(env: Env, path: str) -> None:
    client = env.client()
    env.session_for(client, roles=["instructor", "administrator", "learner"], context_id="2",
                    learner_id=env.world.learner_hostile, expires_in=timedelta(seconds=-1))
    assert client.get(path).status_code == 401


def test_verification_page_needs_no_login_but_downloads_only_existing_formats(env: Env) -> None:
    with env.db.unit_of_work() as s:
        uuid = s.scalars(select(Credential.uuid).where(Credential.award_id == env.world.award_issued)).first()
    client = env.client()
    assert client.get(f"/credentials/{uuid}").status_code == 200
    assert client.get("/credentials/00000000-0000-4000-8000-00000000dead").status_code == 404


def _enrol(env: Env, learner_id: int, course_id: int, *, active: bool) -> None:
    with env.db.unit_of_work() as s:
        enrolment = s.scalars(select(Enrolment).where(Enrolment.learner_id == learner_id,
                                                      Enrolment.course_id == course_id)).first()
        if enrolment is None:
            s.add(Enrolment(course_id=course_id, learner_id=learner_id, roles=["student"], active=active))
        else:
            enrolment.active = active


def _refused_revocation(env: Env, client: FlaskClient, context_id: str, award_id: int) -> None:
    assert client.get(f"/teacher/course/{context_id}/awards/{award_id}/preview").status_code == 403
    token = csrf_token(client, f"/teacher/course/{context_id}")
    response = client.post(f"/teacher/course/{context_id}/awards",
                           data={"csrf_token": token, "action": "revoke", "award_id": str(award_id),
                                 "reason": "because I can"})
    assert response.status_code == 403
    with env.db.unit_of_work() as s:
        assert s.scalars(select(Credential).where(Credential.award_id == award_id,
                                                  Credential.revoked_at.is_not(None))).all() == []


def test_a_withdrawn_learners_awards_are_out_of_the_teachers_reach(env: Env) -> None:
    # the matrix no longer lists a learner whose enrolment ended; neither may its actions reach them
    _enrol(env, env.world.learner_hostile, env.world.course_cnc, active=False)
    client = env.teacher("2")
    names = [row["name"] for row in client.get("/teacher/course/2/matrix.json").get_json()["learners"]]
    assert HOSTILE_LEARNER not in names
    _refused_revocation(env, client, "2", env.world.award_issued)


def test_a_course_reaches_only_its_own_credentials_of_a_shared_learner(env: Env) -> None:
    # the learner is in WELD201 too; its teacher may not revoke or preview the learner's CNC credential
    _enrol(env, env.world.learner_full, env.world.course_weld, active=True)
    client = env.teacher("3")
    columns = {c["code"] for c in client.get("/teacher/course/3/matrix.json").get_json()["columns"]}
    assert "CNC-OPERATOR" not in columns
    _refused_revocation(env, client, "3", env.world.award_full)
    # while the CNC101 teacher still may (the check is not simply "refuse everything")
    assert env.teacher("2").get(f"/teacher/course/2/awards/{env.world.award_full}/preview").status_code == 200


def test_a_platform_not_linked_to_a_connection_shows_no_course(env: Env) -> None:
    # which of the school's Moodles would course id 2 be on? Without a link: none, not the first found
    with env.db.unit_of_work() as s:
        unlinked = LtiRegistration(school_id=env.world.school_a, issuer="https://other-moodle.alpha.example",
                                   client_id="x", auth_login_url="https://o/a", auth_token_url="https://o/t",
                                   key_set_url="https://o/k")
        s.add(unlinked)
        s.flush()
        unlinked_id = unlinked.id
    client = env.client()
    env.session_for(client, roles=["instructor"], context_id="2", registration_id=unlinked_id)
    for path in ("/teacher/course/2", "/teacher/course/2/matrix.json",
                 f"/teacher/course/2/awards/{env.world.award_full}/preview"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert HOSTILE_LEARNER not in response.get_data(as_text=True)
    assert "not linked to a Moodle connection" in client.get("/teacher/course/2").get_data(as_text=True)
