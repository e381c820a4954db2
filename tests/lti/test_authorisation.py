"""Sessions and what each role may open."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from credbridge.connector.store.models import LaunchSession, Learner
from credbridge.lti.sessions import SESSION_COOKIE
from tests.lti.support import (
    COURSE_ID,
    LEARNER_ID,
    OTHER_COURSE_ID,
    OTHER_LEARNER_ID,
    TEACHER_ID,
    LtiEnvironment,
    launch,
)


def _set_cookie(http, env: LtiEnvironment, value: str) -> None:
    http.cookies.set(SESSION_COOKIE, value, domain="127.0.0.1", path="/")


def test_no_session_is_401(lti_env: LtiEnvironment) -> None:
    response = lti_env.browser().get(lti_env.tool_url + f"/courses/{COURSE_ID}")
    assert response.status_code == 401


def test_forged_session_cookie_is_rejected(lti_env: LtiEnvironment) -> None:
    http = lti_env.browser()
    launch(http, lti_env.platform, TEACHER_ID, COURSE_ID)
    with lti_env.runtime.db.unit_of_work() as db:
        session_id = db.scalars(select(LaunchSession.id)).one()
    http.cookies.clear()
    forged = URLSafeTimedSerializer("another-secret-key-0123456789abcdef", salt="credbridge-launch-session")
    _set_cookie(http, lti_env, forged.dumps(session_id))
    assert http.get(lti_env.tool_url + f"/courses/{COURSE_ID}").status_code == 401
    _set_cookie(http, lti_env, session_id)  # the bare id, unsigned
    assert http.get(lti_env.tool_url + f"/courses/{COURSE_ID}").status_code == 401


def test_expired_session_is_rejected(lti_env: LtiEnvironment) -> None:
    http = lti_env.browser()
    assert launch(http, lti_env.platform, TEACHER_ID, COURSE_ID).status_code == 200
    with lti_env.runtime.db.unit_of_work() as db:
        for row in db.scalars(select(LaunchSession)):
            row.expires_at = datetime.now(UTC) - timedelta(minutes=1)
    assert http.get(lti_env.tool_url + f"/courses/{COURSE_ID}").status_code == 401


def test_teacher_of_course_a_cannot_open_course_b(lti_env: LtiEnvironment) -> None:
    http = lti_env.browser()
    assert launch(http, lti_env.platform, TEACHER_ID, COURSE_ID).status_code == 200
    assert http.get(lti_env.tool_url + f"/courses/{COURSE_ID}").status_code == 200
    response = http.get(lti_env.tool_url + f"/courses/{OTHER_COURSE_ID}")
    assert response.status_code == 403
    assert "Traceback" not in response.text


def test_learner_cannot_open_another_learners_page_nor_the_course(lti_env: LtiEnvironment) -> None:
    other = lti_env.browser()
    launch(other, lti_env.platform, OTHER_LEARNER_ID, COURSE_ID)
    http = lti_env.browser()
    own = launch(http, lti_env.platform, LEARNER_ID, COURSE_ID)
    assert own.status_code == 200
    with lti_env.runtime.db.unit_of_work() as db:
        ids = {row.full_name: row.id for row in db.scalars(select(Learner))}
    other_user = lti_env.site.users[OTHER_LEARNER_ID]
    other_id = ids[f"{other_user.firstname} {other_user.lastname}"]
    assert http.get(lti_env.tool_url + f"/learners/{other_id}").status_code == 403
    assert http.get(lti_env.tool_url + f"/courses/{COURSE_ID}").status_code == 403
    me = lti_env.site.users[LEARNER_ID]
    mine = http.get(lti_env.tool_url + "/my")
    assert mine.status_code == 200 and f"{me.firstname} {me.lastname}" in mine.text


def test_learner_of_another_school_is_not_visible(lti_env: LtiEnvironment) -> None:
    from credbridge.connector.store.models import School

    with lti_env.runtime.db.unit_of_work() as db:
        school = School(slug="other", legal_name="Other", country="FI")
        db.add(school)
        db.flush()
        stranger = Learner(school_id=school.id, full_name="Somebody Else")
        db.add(stranger)
        db.flush()
        stranger_id = stranger.id
    http = lti_env.browser()
    launch(http, lti_env.platform, TEACHER_ID, COURSE_ID)
    assert http.get(lti_env.tool_url + f"/learners/{stranger_id}").status_code == 403


def test_teacher_sees_synced_learners_of_the_course(lti_env: LtiEnvironment) -> None:
    from credbridge.connector.store.models import Course, Enrolment

    with lti_env.runtime.db.unit_of_work() as db:
        course = Course(connection_id=lti_env.connection_id, moodle_id=COURSE_ID, shortname="CNC101",
                        fullname="CNC programming basics (synced)")
        learner = Learner(school_id=lti_env.school_id, full_name="Aino Virtanen")
        db.add_all([course, learner])
        db.flush()
        db.add(Enrolment(course_id=course.id, learner_id=learner.id, roles=["student"]))
    http = lti_env.browser()
    landing = launch(http, lti_env.platform, TEACHER_ID, COURSE_ID)
    assert landing.url.endswith(f"/teacher/course/{COURSE_ID}")  # synced: the full course page
    page = http.get(lti_env.tool_url + f"/courses/{COURSE_ID}", timeout=10)  # the minimal view
    assert "CNC programming basics (synced)" in page.text
    assert "Aino Virtanen" in page.text


def test_teacher_sees_learners_of_their_course_only(lti_env: LtiEnvironment) -> None:
    from credbridge.connector.store.models import Course, Enrolment

    with lti_env.runtime.db.unit_of_work() as db:
        cnc = Course(connection_id=lti_env.connection_id, moodle_id=COURSE_ID, shortname="CNC101", fullname="CNC")
        weld = Course(connection_id=lti_env.connection_id, moodle_id=OTHER_COURSE_ID, shortname="W", fullname="W")
        mine = Learner(school_id=lti_env.school_id, full_name="In My Course")
        other = Learner(school_id=lti_env.school_id, full_name="In Another Course")
        db.add_all([cnc, weld, mine, other])
        db.flush()
        db.add_all([Enrolment(course_id=cnc.id, learner_id=mine.id), Enrolment(course_id=weld.id, learner_id=other.id)])
        mine_id, other_id = mine.id, other.id
    http = lti_env.browser()
    launch(http, lti_env.platform, TEACHER_ID, COURSE_ID)
    assert http.get(lti_env.tool_url + f"/learners/{mine_id}", timeout=10).status_code == 200
    assert http.get(lti_env.tool_url + f"/learners/{other_id}", timeout=10).status_code == 403
