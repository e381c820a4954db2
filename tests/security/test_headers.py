"""Review findings 6 and 8: every response carries a policy; only the platforms of the school whose
page it is may frame it; bodies are bounded; ids beyond any database integer are plain 404s."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from credbridge.connector.store.models import Credential, LtiRegistration
from tests.lti.support import LtiEnvironment
from tests.pages.conftest import Env
from tests.security.support import launch_with

BETA_PLATFORM = "https://moodle.beta.example"


def _frame_ancestors(response) -> list[str]:  # type: ignore[no-untyped-def]
    policy = response.headers["Content-Security-Policy"]
    return next(p for p in policy.split(";") if p.strip().startswith("frame-ancestors")).split()[1:]


@pytest.fixture
def beta_platform(env: Env) -> Env:
    """School B registers a platform of its own (any school admin can)."""
    with env.db.unit_of_work() as s:
        s.add(LtiRegistration(school_id=env.world.school_b, issuer=BETA_PLATFORM, client_id="beta",
                              auth_login_url=BETA_PLATFORM + "/mod/lti/auth.php",
                              auth_token_url=BETA_PLATFORM + "/mod/lti/token.php",
                              key_set_url=BETA_PLATFORM + "/mod/lti/certs.php"))
    return env


@pytest.mark.parametrize("path", ["/teacher/course/2", "/courses/2", "/admin/", "/", "/learner/"])
def test_one_schools_platform_cannot_frame_another_schools_pages(beta_platform: Env, path: str) -> None:
    env = beta_platform
    alpha = env.teacher("2") if "learner" not in path else env.learner(env.world.learner_plain)
    if path == "/admin/":
        alpha = env.admin()
    response = alpha.get(path)
    assert response.status_code in (200, 302), (path, response.status_code)
    assert BETA_PLATFORM not in _frame_ancestors(response)
    assert "http://127.0.0.1:9" in _frame_ancestors(response)  # school A's own platform
    beta = env.admin(env.world.school_b).get("/admin/")
    assert BETA_PLATFORM in _frame_ancestors(beta)


SCHOOLLESS = ["/", "/admin/login", "/lti/deep-link", "/courses/2", "/teacher/course/2", "/lti/register",
              "/credentials/00000000-0000-0000-0000-000000000000", "/no/such/page"]


@pytest.mark.parametrize("path", SCHOOLLESS)
def test_pages_of_no_school_are_framed_only_by_registered_platforms(beta_platform: Env, path: str) -> None:
    """The login form, the start page and errors without a session show nothing of a school; Moodle
    shows them in its frame too (an expired session must say so there), so any registered platform
    may frame them, and no other site."""
    response = beta_platform.client().get(path)
    assert set(_frame_ancestors(response)) == {"'self'", "http://127.0.0.1:9", BETA_PLATFORM}
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_without_any_registered_platform_nobody_else_frames_them(env: Env) -> None:
    with env.db.unit_of_work() as s:
        for row in s.scalars(select(LtiRegistration)):
            row.status = "disabled"
    for path in SCHOOLLESS:
        response = env.client().get(path)
        assert _frame_ancestors(response) == ["'self'"], path
        assert response.headers["X-Frame-Options"] == "SAMEORIGIN", path


def test_a_public_page_of_a_school_is_framed_by_nobody_else_without_a_session(beta_platform: Env) -> None:
    with beta_platform.db.unit_of_work() as s:
        uuid = s.scalars(select(Credential.uuid).where(Credential.award_id == beta_platform.world.award_issued)).first()
    response = beta_platform.client().get(f"/credentials/{uuid}")
    assert response.status_code == 200 and _frame_ancestors(response) == ["'self'"]
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"


@pytest.mark.parametrize("path", ["/.well-known/jwks.json", "/static/pages/pages.css", "/learner/records.json"])
def test_other_responses_may_not_be_framed_at_all(env: Env, path: str) -> None:
    client = env.learner(env.world.learner_plain) if path.endswith("records.json") else env.client()
    response = client.get(path)
    assert response.status_code == 200
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"


def test_the_launch_and_its_landing_page_are_framed_by_the_launching_platform(lti_env: LtiEnvironment,
                                                                              client: FlaskClient) -> None:
    launched = launch_with(client, lti_env, "instructor")
    assert lti_env.platform_url in _frame_ancestors(launched)
    landing = client.get(launched.headers["Location"])
    assert landing.status_code == 200 and lti_env.platform_url in _frame_ancestors(landing)
    assert "X-Frame-Options" not in landing.headers


def test_a_30_mb_login_is_refused_before_it_is_read(lti_env: LtiEnvironment, client: FlaskClient) -> None:
    response = client.post("/lti/login", data={"iss": "x" * 30_000_000, "login_hint": "5",
                                               "target_link_uri": lti_env.tool_url + "/lti/launch"})
    assert response.status_code == 413
    assert len(response.get_data()) < 10_000


def test_a_large_mapping_upload_is_still_accepted(env: Env) -> None:
    from tests.pages.conftest import csrf_token

    client = env.admin()
    token = csrf_token(client, "/admin/mappings/edit")
    response = client.post("/admin/mappings/edit", data={"csrf_token": token, "filename": "big.yaml",
                                                         "content": "# " + "x" * 400_000 + "\n", "action": "check"})
    assert response.status_code == 422  # checked (and refused as a mapping), not 413


@pytest.mark.parametrize("path", [
    "/schools/alpha/status/" + "9" * 30, "/schools/alpha/status/" + "9" * 5000, "/learners/99999999999999999999999",
    "/learner/awards/99999999999999999999999", "/teacher/course/2/awards/99999999999999999999999/preview",
    "/teacher/course/2/sync/99999999999999999999999.json",
])
def test_ids_beyond_any_database_integer_are_not_found(env: Env, path: str) -> None:
    client = env.learner(env.world.learner_plain) if "/learner" in path else env.teacher("2")
    assert client.get(path).status_code == 404


def test_a_refusal_quotes_at_most_a_little_of_what_was_sent(env: Env) -> None:
    from tests.pages.conftest import csrf_token

    client = env.teacher("2")
    token = csrf_token(client, "/teacher/course/2")
    response = client.post("/teacher/course/2/awards", data={"csrf_token": token, "action": "<b>" + "x" * 100_000,
                                                             "award_id": str(env.world.award_pending)})
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and "x" * 500 not in body and "<b>x" not in body
