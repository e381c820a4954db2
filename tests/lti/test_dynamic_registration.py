"""Dynamic Registration against the emulated Moodle, including its refusals."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from flask import Flask, jsonify
from sqlalchemy import select

from credbridge.connector.keys import school_registration_token
from credbridge.connector.store.models import AuditEntry, LtiRegistration, School
from credbridge.lti import dynamic_registration
from tests.lti.support import COURSE_ID, TEACHER_ID, TEST_SECRET_KEY, LtiEnvironment, forms, launch, serve


def _open(env: LtiEnvironment, http: requests.Session, **extra: str) -> dict[str, Any]:
    extra.setdefault("school", school_registration_token(TEST_SECRET_KEY, env.school_id))
    page = http.get(env.platform.registration_url(env.tool_url + "/lti/register", **extra))
    assert page.status_code == 200, page.text
    return forms(page.text)[0]


def test_dynamic_registration_end_to_end(lti_env: LtiEnvironment) -> None:
    http = lti_env.browser()
    _open(lti_env, http)  # Moodle's first, aborted load: must change nothing
    form = _open(lti_env, http)
    assert form["fields"]["registration_token"] and form["fields"]["csrf_token"]
    done = http.post(lti_env.tool_url + "/lti/register", data=form["fields"])
    assert done.status_code == 200, done.text
    assert "org.imsglobal.lti.close" in done.text
    with lti_env.runtime.db.unit_of_work() as db:
        registration = db.scalars(select(LtiRegistration).where(LtiRegistration.registered_by == "dynamic")).one()
        assert registration.issuer == lti_env.platform_url
        assert registration.auth_login_url == lti_env.platform_url + "/mod/lti/auth.php"
        assert registration.key_set_url == lti_env.platform_url + "/mod/lti/certs.php"
        assert registration.connection_id == lti_env.connection_id
        deployments = [d.deployment_id for d in registration.deployments]
        client_id = registration.client_id
        assert db.scalars(select(AuditEntry).where(AuditEntry.action == "lti_registration.dynamic")).one()
    tool = lti_env.platform.tool_by_client(client_id)
    assert tool is not None and tool.status == "pending" and deployments == [tool.deployment_id]
    sent = tool.registration
    config = sent["https://purl.imsglobal.org/spec/lti-tool-configuration"]
    assert config["domain"] == lti_env.tool_url.removeprefix("http://")  # host INCLUDING the port
    assert sent["token_endpoint_auth_method"] == "private_key_jwt" and sent["response_types"] == ["id_token"]
    assert {"type": "LtiDeepLinkingRequest"}.items() <= config["messages"][0].items()
    assert "contextmembership.readonly" in sent["scope"] and "lti-ags/scope/score" in sent["scope"]

    # pending until the Moodle admin activates it, then a launch through the new tool works
    assert lti_env.browser().get(lti_env.platform.launch_url(TEACHER_ID, COURSE_ID, tool=tool)).status_code == 403
    lti_env.platform.activate(client_id)
    page = launch(lti_env.browser(), lti_env.platform, TEACHER_ID, COURSE_ID, tool=tool)
    assert page.status_code == 200 and page.url.endswith(f"/courses/{COURSE_ID}")

    # the same token again: Moodle's 401 token_already_used, shown clearly
    again = http.post(lti_env.tool_url + "/lti/register", data=form["fields"])
    assert again.status_code == 401
    assert "token_already_used" in again.text and "fresh token" in again.text


def test_missing_token_is_shown(lti_env: LtiEnvironment) -> None:
    http = lti_env.browser()
    form = _open(lti_env, http)
    response = http.post(lti_env.tool_url + "/lti/register", data={**form["fields"], "registration_token": ""})
    assert response.status_code == 401 and "missing_registration_token" in response.text


def test_domain_mismatch_is_shown(lti_env: LtiEnvironment, monkeypatch: pytest.MonkeyPatch) -> None:
    original = dynamic_registration.tool_registration

    def without_port(base_url: str, client_name: str = "credbridge") -> dict[str, Any]:
        body = original(base_url, client_name)
        body[dynamic_registration.TOOL_CONFIG]["domain"] = "127.0.0.1"
        return body

    monkeypatch.setattr("credbridge.lti.views.registration.tool_registration", without_port)
    http = lti_env.browser()
    form = _open(lti_env, http)
    response = http.post(lti_env.tool_url + "/lti/register", data=form["fields"])
    assert response.status_code == 400
    assert "domain_targetlinkuri_mismatch" in response.text and "including the port" in response.text


def test_registration_needs_the_csrf_token(lti_env: LtiEnvironment) -> None:
    http = lti_env.browser()
    form = _open(lti_env, http)
    fields = {k: v for k, v in form["fields"].items() if k != "csrf_token"}
    assert http.post(lti_env.tool_url + "/lti/register", data=fields).status_code == 400


def test_issuer_must_match_the_configuration_origin(lti_env: LtiEnvironment) -> None:
    app = Flask(__name__)
    app.add_url_rule("/config", "config", lambda: jsonify({
        "issuer": "http://127.0.0.1:1", "authorization_endpoint": "http://127.0.0.1:1/a",
        "token_endpoint": "http://127.0.0.1:1/t", "jwks_uri": "http://127.0.0.1:1/k",
        "registration_endpoint": "http://127.0.0.1:1/r"}))
    with serve(app) as url:
        page = requests.get(lti_env.tool_url + "/lti/register",
                            params={"openid_configuration": url + "/config", "registration_token": "x",
                                    "school": school_registration_token(TEST_SECRET_KEY, lti_env.school_id)},
                            timeout=10)
    assert page.status_code == 502 and "does not match" in page.text


def test_the_link_names_its_school_and_only_a_signed_token_will_do(lti_env: LtiEnvironment) -> None:
    with lti_env.runtime.db.unit_of_work() as db:
        other = School(slug="other", legal_name="Other School", country="HR")
        db.add(other)
        db.flush()
        other_id = other.id
    http = lti_env.browser()
    form = _open(lti_env, http, school=school_registration_token(TEST_SECRET_KEY, other_id))
    assert http.post(lti_env.tool_url + "/lti/register", data=form["fields"]).status_code == 200
    with lti_env.runtime.db.unit_of_work() as db:
        registration = db.scalars(select(LtiRegistration).where(LtiRegistration.registered_by == "dynamic")).one()
        assert registration.school_id == other_id and registration.connection_id is None


@pytest.mark.parametrize("school, reason", [
    (None, "does not name a school"),
    ("forged", "not one this credbridge signed"),
    (school_registration_token("another-secret-key-0123456789abcdefgh", 1), "not one this credbridge signed"),
])
def test_a_link_without_a_valid_school_token_registers_nothing(lti_env: LtiEnvironment, school: str | None,
                                                                reason: str) -> None:
    # even on a single-school install: anyone could otherwise register a platform of their own and
    # launch into the admin console as its Administrator
    http = lti_env.browser()
    extra = {"school": school} if school is not None else {}
    page = http.get(lti_env.platform.registration_url(lti_env.tool_url + "/lti/register", **extra))
    assert page.status_code == 403 and reason in page.text and "registration-url" in page.text
    valid = _open(lti_env, http)["fields"]
    posted = http.post(lti_env.tool_url + "/lti/register", data={**valid, "school": school or ""})
    assert posted.status_code == 403 and reason in posted.text
    with lti_env.runtime.db.unit_of_work() as db:
        assert db.scalars(select(LtiRegistration).where(LtiRegistration.registered_by == "dynamic")).all() == []


def test_an_expired_link_is_refused_with_its_date(lti_env: LtiEnvironment, monkeypatch: pytest.MonkeyPatch) -> None:
    from itsdangerous.timed import TimestampSigner

    signed_at = int(time.time()) - 8 * 86400
    with monkeypatch.context() as m:
        m.setattr(TimestampSigner, "get_timestamp", lambda self: signed_at)
        old = school_registration_token(TEST_SECRET_KEY, lti_env.school_id)
    page = lti_env.browser().get(lti_env.platform.registration_url(lti_env.tool_url + "/lti/register", school=old))
    made = datetime.fromtimestamp(signed_at, UTC).date().isoformat()
    assert page.status_code == 403 and f"(made {made}) is older than 7 days" in page.text
