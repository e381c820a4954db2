"""Whole launches from the emulated Moodle through real HTTP servers on 127.0.0.1."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import select

from credbridge.connector.store.models import LaunchSession, Learner, LearnerIdentity
from tests.lti.support import COURSE_ID, LEARNER_ID, TEACHER_ID, LtiEnvironment, launch


def test_teacher_lands_on_the_course_view(lti_env: LtiEnvironment) -> None:
    page = launch(lti_env.browser(), lti_env.platform, TEACHER_ID, COURSE_ID)
    assert page.status_code == 200, page.text
    assert page.url.endswith(f"/courses/{COURSE_ID}")
    assert "CNC programming basics" in page.text
    with lti_env.runtime.db.unit_of_work() as db:
        session = db.scalars(select(LaunchSession)).one()
        assert session.roles == ["instructor"]
        assert session.context_id == str(COURSE_ID)
        assert session.learner_id is None


def test_learner_lands_on_their_records_and_is_linked_to_the_moodle_identity(lti_env: LtiEnvironment) -> None:
    page = launch(lti_env.browser(), lti_env.platform, LEARNER_ID, COURSE_ID)
    assert page.status_code == 200, page.text
    user = lti_env.site.users[LEARNER_ID]
    assert f"{user.firstname} {user.lastname}" in page.text
    with lti_env.runtime.db.unit_of_work() as db:
        identity = db.scalars(select(LearnerIdentity)).one()
        assert (identity.connection_id, identity.external_id) == (lti_env.connection_id, str(LEARNER_ID))
        learner = db.get(Learner, identity.learner_id)
        assert learner is not None and learner.idnumber == user.idnumber
        # the learner's own records: the full pages (/learner/) or the minimal one (/learners/<id>)
        assert urlsplit(page.url).path in ("/learner/", f"/learners/{learner.id}")
    # a second launch finds the same learner instead of creating another
    launch(lti_env.browser(), lti_env.platform, LEARNER_ID, COURSE_ID)
    with lti_env.runtime.db.unit_of_work() as db:
        assert len(db.scalars(select(Learner)).all()) == 1


def test_known_learner_is_found_by_idnumber(lti_env: LtiEnvironment) -> None:
    user = lti_env.site.users[LEARNER_ID]
    with lti_env.runtime.db.unit_of_work() as db:
        db.add(Learner(school_id=lti_env.school_id, full_name="Synced Name", idnumber=user.idnumber))
    page = launch(lti_env.browser(), lti_env.platform, LEARNER_ID, COURSE_ID)
    assert "Synced Name" in page.text
    with lti_env.runtime.db.unit_of_work() as db:
        assert len(db.scalars(select(Learner)).all()) == 1
        assert db.scalars(select(LearnerIdentity)).one().external_id == str(LEARNER_ID)


def test_known_learner_is_found_by_email_when_the_idnumber_is_unknown(lti_env: LtiEnvironment) -> None:
    user = lti_env.site.users[LEARNER_ID]
    with lti_env.runtime.db.unit_of_work() as db:
        db.add(Learner(school_id=lti_env.school_id, full_name="Found By Email", email=user.email.upper()))
    launch(lti_env.browser(), lti_env.platform, LEARNER_ID, COURSE_ID)
    with lti_env.runtime.db.unit_of_work() as db:
        (learner,) = db.scalars(select(Learner)).all()
        assert learner.full_name == "Found By Email"
        assert db.scalars(select(LearnerIdentity)).one().learner_id == learner.id
