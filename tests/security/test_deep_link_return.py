"""Review finding 2: the deep-linking return URL is used only when it is an http(s) URL on the
platform's own origin, and the auto-posting page runs under a policy that names where it may post."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from credbridge.connector.store.models import LaunchSession, TemplateDefinition
from credbridge.lti.deep_linking import check_return_url
from credbridge.lti.launch import claims as c
from credbridge.lti.launch.errors import LaunchError
from tests.lti.support import LtiEnvironment
from tests.lti.tokens import recorded
from tests.security.support import launch_with

SETTINGS = recorded("deep_linking")[1][c.DL_SETTINGS]


@pytest.fixture
def templates(lti_env: LtiEnvironment) -> LtiEnvironment:
    with lti_env.runtime.db.unit_of_work() as db:
        db.add(TemplateDefinition(school_id=lti_env.school_id, code="CNC-BASICS", title="CNC basics", definition={}))
    return lti_env


def _with_return_url(env: LtiEnvironment, url: str) -> dict:
    return {**SETTINGS, "deep_link_return_url": url}


def _check(response) -> str:  # type: ignore[no-untyped-def]
    found = re.search(r'<code class="check">([^<]+)</code>', response.get_data(as_text=True))
    assert found, response.get_data(as_text=True)[:400]
    return found.group(1)


@pytest.mark.parametrize("url", [
    "javascript:alert(document.domain)//{platform}", "JaVaScRiPt:alert(1)", " javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>", "https://attacker.example/collect", "//attacker.example/x",
    "{platform}@attacker.example/x", "ftp://{host}/x", "/mod/lti/contentitem_return.php",
    "http://{host}:1/mod/lti/contentitem_return.php",
])
def test_a_return_url_off_the_platform_is_refused_at_launch(templates: LtiEnvironment, client: FlaskClient,
                                                           url: str) -> None:
    platform = templates.platform_url
    url = url.format(platform=platform, host=platform.split("//")[1].split(":")[0])
    response = launch_with(client, templates, "deep_linking", **{c.DL_SETTINGS: _with_return_url(templates, url)})
    assert response.status_code == 400 and _check(response) == "deep_link_return_url"


def _picker_session(env: LtiEnvironment, client: FlaskClient) -> str:
    response = launch_with(client, env, "deep_linking")
    assert response.status_code == 303 and response.headers["Location"].endswith("/lti/deep-link")
    page = client.get("/lti/deep-link").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_the_response_posts_only_to_the_platform_under_a_strict_policy(templates: LtiEnvironment,
                                                                       client: FlaskClient) -> None:
    token = _picker_session(templates, client)
    answer = client.post("/lti/deep-link", data={"csrf_token": token, "template": "CNC-BASICS"})
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    action = re.search(r'<form method="post" action="([^"]+)"', page).group(1)
    assert action.startswith(templates.platform_url + "/mod/lti/contentitem_return.php")
    policy = answer.headers["Content-Security-Policy"]
    nonce = re.search(r'<script nonce="([^"]+)">', page).group(1)
    assert f"script-src 'self' 'nonce-{nonce}'" in policy
    assert f"form-action 'self' {templates.platform_url}" in policy
    assert f"frame-ancestors 'self' {templates.platform_url}" in policy


def test_a_session_holding_a_bad_return_url_still_cannot_post_there(templates: LtiEnvironment,
                                                                    client: FlaskClient) -> None:
    token = _picker_session(templates, client)
    with templates.runtime.db.unit_of_work() as db:
        row = db.scalars(select(LaunchSession)).one()
        row.claims = {**row.claims, c.DL_SETTINGS: _with_return_url(templates, "javascript:alert(1)")}
    answer = client.post("/lti/deep-link", data={"csrf_token": token, "template": "CNC-BASICS"})
    assert answer.status_code == 400 and _check(answer) == "deep_link_return_url"
    assert "<form" not in answer.get_data(as_text=True)


def test_check_return_url_unit() -> None:
    origins = {"https://moodle.school.example"}
    assert check_return_url("https://moodle.school.example/mod/lti/contentitem_return.php?x=1", origins)
    assert check_return_url("https://MOODLE.school.example:443/mod/lti/x", origins)
    for bad in ("http://moodle.school.example/x", "https://moodle.school.example.attacker.example/x",
                "https://moodle.school.example:8443/x", None, 42, "https://user@moodle.school.example/x"):
        with pytest.raises(LaunchError):
            check_return_url(bad, origins)
