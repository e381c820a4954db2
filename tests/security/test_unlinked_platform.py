"""Review finding 1: a platform registered for the school but not linked to its Moodle connection
(anyone holding the school's registration link can create one) never binds a launch to an existing
learner, by e-mail, idnumber or anything else; once an administrator links it, launches match."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import func, select

from credbridge.connector.store.models import LaunchSession, Learner, LearnerIdentity, LtiRegistration
from tests.lti.support import LtiEnvironment
from tests.lti.tokens import recorded
from tests.security.support import add_platform, launch_with

AINO = recorded("learner")[1]


def _existing_learner(env: LtiEnvironment) -> int:
    """Aino as sync made her: known on the school's connection, with her e-mail and idnumber."""
    with env.runtime.db.unit_of_work() as db:
        learner = Learner(school_id=env.school_id, full_name="Aino Virtanen", email=AINO["email"],
                          idnumber=AINO["https://purl.imsglobal.org/spec/lti/claim/lis"]["person_sourcedid"])
        db.add(learner)
        db.flush()
        db.add(LearnerIdentity(learner_id=learner.id, connection_id=env.connection_id, external_id=AINO["sub"]))
        return learner.id


def _session(env: LtiEnvironment) -> LaunchSession:
    with env.runtime.db.unit_of_work() as db:
        row = db.scalars(select(LaunchSession).order_by(LaunchSession.created_at.desc())).first()
        db.expunge(row)
        return row


def test_an_unlinked_platform_cannot_take_over_a_learner_by_email_or_idnumber(
        lti_env: LtiEnvironment, client: FlaskClient) -> None:
    aino = _existing_learner(lti_env)
    add_platform(lti_env, client_id="rogue-platform", linked=False)
    with lti_env.runtime.db.unit_of_work() as db:
        learners_before = db.scalar(select(func.count()).select_from(Learner))
    # the same e-mail, idnumber and even the same sub as Aino's Moodle account
    response = launch_with(client, lti_env, "learner", client_id="rogue-platform", deployment_id="9")
    assert response.status_code == 303
    session = _session(lti_env)
    assert session.learner_id is None
    assert client.get(f"/learners/{aino}").status_code == 403
    assert client.get("/learner/").status_code == 403
    assert client.get("/learner/records.json").status_code == 403
    with lti_env.runtime.db.unit_of_work() as db:
        # no new learner either: one carrying Aino's e-mail would make the school's later matches ambiguous
        assert db.scalar(select(func.count()).select_from(Learner)) == learners_before


def test_an_unlinked_platform_cannot_match_by_email_alone(lti_env: LtiEnvironment, client: FlaskClient) -> None:
    with lti_env.runtime.db.unit_of_work() as db:
        db.add(Learner(school_id=lti_env.school_id, full_name="Aino Virtanen", email=AINO["email"]))
    add_platform(lti_env, client_id="rogue-platform", linked=False)
    launch_with(client, lti_env, "learner", client_id="rogue-platform", deployment_id="9", sub="777")
    assert _session(lti_env).learner_id is None


def test_once_linked_the_platform_finds_the_learner(lti_env: LtiEnvironment, client: FlaskClient) -> None:
    aino = _existing_learner(lti_env)
    registration = add_platform(lti_env, client_id="second-platform", linked=False)
    launch_with(client, lti_env, "learner", client_id="second-platform", deployment_id="9")
    assert _session(lti_env).learner_id is None
    with lti_env.runtime.db.unit_of_work() as db:
        db.get(LtiRegistration, registration).connection_id = lti_env.connection_id
    response = launch_with(client, lti_env, "learner", client_id="second-platform", deployment_id="9")
    assert response.status_code == 303
    assert _session(lti_env).learner_id == aino
    assert client.get(f"/learners/{aino}").status_code == 200


def test_the_linked_platform_still_matches_by_idnumber(lti_env: LtiEnvironment, client: FlaskClient) -> None:
    with lti_env.runtime.db.unit_of_work() as db:
        learner = Learner(school_id=lti_env.school_id, full_name="Aino Virtanen",
                          idnumber=AINO["https://purl.imsglobal.org/spec/lti/claim/lis"]["person_sourcedid"])
        db.add(learner)
        db.flush()
        aino = learner.id
    launch_with(client, lti_env, "learner")
    assert _session(lti_env).learner_id == aino


#: what Moodle sends for a site administrator launching from a course
SITE_ADMIN = ["http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator",
              "http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator",
              "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"]
ROLES = "https://purl.imsglobal.org/spec/lti/claim/roles"
CONSOLE = ["/admin/", "/admin/operations/?q=Aino", "/admin/registrations", "/admin/mappings/edit", "/admin/keys"]


def test_an_unlinked_platform_cannot_open_the_schools_console(lti_env: LtiEnvironment, client: FlaskClient) -> None:
    """Re-review: whoever registered a platform of their own with the school's registration link
    launched from it as its site administrator and got the school's console: every learner's data
    (find, export, erase), the mapping, the signing key, new Moodle connections. An administrator
    role counts only from a platform a school administrator has linked to the school's Moodle."""
    aino = _existing_learner(lti_env)
    add_platform(lti_env, client_id="rogue-platform", linked=False)
    response = launch_with(client, lti_env, "instructor", client_id="rogue-platform", deployment_id="9",
                           **{ROLES.replace("/", "__"): SITE_ADMIN})
    assert response.status_code == 303
    assert "administrator" not in (_session(lti_env).roles or [])
    for path in [*CONSOLE, f"/admin/operations/learners/{aino}/export.json", f"/learners/{aino}"]:
        assert client.get(path).status_code == 403, path


def test_the_linked_platforms_site_administrator_opens_the_console(lti_env: LtiEnvironment,
                                                                   client: FlaskClient) -> None:
    aino = _existing_learner(lti_env)
    response = launch_with(client, lti_env, "instructor", **{ROLES.replace("/", "__"): SITE_ADMIN})
    assert response.status_code == 303
    assert "administrator" in _session(lti_env).roles
    for path in [*CONSOLE, f"/admin/operations/learners/{aino}/export.json"]:
        assert client.get(path).status_code == 200, path
