"""The login and launch endpoints over HTTP: state and cookie binding, replays, platform errors."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from credbridge.connector.store.models import LtiLoginState
from tests.lti.support import COURSE_ID, LEARNER_ID, TEACHER_ID, LtiEnvironment, forms, launch, submit_autopost


def _until_auth_form(env: LtiEnvironment, http: requests.Session, user_id: int = LEARNER_ID) -> dict:
    start = http.get(env.platform.launch_url(user_id, COURSE_ID), timeout=10)
    auth = submit_autopost(http, start)
    form = forms(auth.text)[0]
    assert "id_token" in form["fields"], auth.text
    return form


def test_login_redirects_to_the_platform_with_every_oidc_parameter(lti_env: LtiEnvironment) -> None:
    http = lti_env.browser()
    start = forms(http.get(lti_env.platform.launch_url(LEARNER_ID, COURSE_ID)).text)[0]
    response = http.post(start["action"], data=start["fields"], allow_redirects=False)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert f"{location.scheme}://{location.netloc}{location.path}" == lti_env.platform_url + "/mod/lti/auth.php"
    assert query["scope"] == "openid" and query["response_type"] == "id_token"
    assert query["response_mode"] == "form_post" and query["prompt"] == "none"
    assert query["client_id"] == lti_env.tool.client_id
    assert query["redirect_uri"] == lti_env.tool_url + "/lti/launch"
    assert query["login_hint"] == str(LEARNER_ID)
    assert query["lti_message_hint"] == start["fields"]["lti_message_hint"]
    assert query["state"] and query["nonce"]
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and cookie.startswith("lti_state_")


def test_login_accepts_get_and_no_client_id_when_the_issuer_has_one_registration(lti_env: LtiEnvironment) -> None:
    params = {"iss": lti_env.platform_url, "login_hint": "5", "target_link_uri": lti_env.tool_url + "/lti/launch"}
    response = requests.get(lti_env.tool_url + "/lti/login", params=params, allow_redirects=False, timeout=10)
    assert response.status_code == 302


def test_login_refuses_unknown_platform_and_foreign_target(lti_env: LtiEnvironment) -> None:
    base = {"iss": lti_env.platform_url, "login_hint": "5", "client_id": lti_env.tool.client_id,
            "target_link_uri": lti_env.tool_url + "/lti/launch"}
    unknown = requests.post(lti_env.tool_url + "/lti/login", data={**base, "iss": "http://127.0.0.1:1"}, timeout=10)
    assert unknown.status_code == 401 and "registration" in unknown.text
    wrong_client = requests.post(lti_env.tool_url + "/lti/login", data={**base, "client_id": "nope"}, timeout=10)
    assert wrong_client.status_code == 401
    foreign = requests.post(lti_env.tool_url + "/lti/login",
                            data={**base, "target_link_uri": "http://127.0.0.1:9/phish"}, allow_redirects=False,
                            timeout=10)
    assert foreign.status_code == 400 and "target_link_uri" in foreign.text
    missing = requests.post(lti_env.tool_url + "/lti/login", data={"iss": lti_env.platform_url}, timeout=10)
    assert missing.status_code == 400 and "login_hint" in missing.text
    assert "Traceback" not in missing.text


def test_replayed_launch_is_refused_on_the_state(lti_env: LtiEnvironment, caplog: pytest.LogCaptureFixture) -> None:
    http = lti_env.browser()
    form = _until_auth_form(lti_env, http)
    first = http.post(form["action"], data=form["fields"])
    assert first.status_code == 200
    again = http.post(form["action"], data=form["fields"])
    assert again.status_code == 401
    assert '<code class="check">state</code>' in again.text
    refusals = [r.getMessage() for r in caplog.records if r.name == "credbridge.lti" and "refused" in r.getMessage()]
    assert refusals == ["LTI launch refused: check=state reason=unknown or already used state (replayed or expired "
                        "launch)"]
    assert not any(r.exc_info for r in caplog.records)  # one line, no stack trace


def test_cookieless_launch_page_speaks_the_browsers_language(lti_env: LtiEnvironment) -> None:
    # there is no launch yet to carry a locale: the page follows Accept-Language, and says so in <html lang>
    http = lti_env.browser()
    form = _until_auth_form(lti_env, http)
    stranger = requests.post(form["action"], data=form["fields"], headers={"Accept-Language": "hr-HR,hr;q=0.9"},
                             timeout=10)
    assert stranger.status_code == 401
    assert '<html lang="hr">' in stranger.text and "Otvori u novom prozoru" in stranger.text
    assert "Neuspjela provjera:" in stranger.text and '<code class="check">state_cookie</code>' in stranger.text
    assert "Open in a new window" not in stranger.text


def test_a_refused_launch_is_explained_in_the_browsers_language(lti_env: LtiEnvironment) -> None:
    http = lti_env.browser()
    form = _until_auth_form(lti_env, http)
    forged = http.post(form["action"], data={**form["fields"], "id_token": "not.a.token"},
                       headers={"Accept-Language": "sl"})
    assert forged.status_code == 400 and '<html lang="sl">' in forged.text
    assert "Zagon je bil zavrnjen" in forged.text and "Neuspešno preverjanje:" in forged.text
    assert "Traceback" not in forged.text


def test_cookieless_launch_offers_a_new_window_and_keeps_the_state(lti_env: LtiEnvironment) -> None:
    http = lti_env.browser()
    form = _until_auth_form(lti_env, http)
    stranger = requests.post(form["action"], data=form["fields"], timeout=10)  # no cookies (Safari in an iframe)
    assert stranger.status_code == 401
    assert "Open in a new window" in stranger.text
    reopen = forms(stranger.text)[0]
    assert reopen["action"].endswith("/lti/login")
    assert reopen["fields"]["login_hint"] == str(LEARNER_ID)
    assert reopen["fields"]["iss"] == lti_env.platform_url
    # the state was not consumed by the cookieless attempt: the real browser still gets in
    assert http.post(form["action"], data=form["fields"]).status_code == 200


def test_state_from_another_browser_is_refused(lti_env: LtiEnvironment) -> None:
    victim, attacker = lti_env.browser(), lti_env.browser()
    attacker_form = _until_auth_form(lti_env, attacker)
    _until_auth_form(lti_env, victim)
    # login CSRF: the attacker makes the victim's browser post the attacker's launch
    response = victim.post(attacker_form["action"], data=attacker_form["fields"])
    assert response.status_code == 401


def test_platform_error_is_shown(lti_env: LtiEnvironment) -> None:
    http = lti_env.browser()
    start = forms(http.get(lti_env.platform.launch_url(LEARNER_ID, COURSE_ID)).text)[0]
    start["fields"]["login_hint"] = str(TEACHER_ID)  # not the user logged in to Moodle
    auth = http.post(start["action"], data=start["fields"])
    page = submit_autopost(http, auth)
    assert page.status_code == 401
    assert "access_denied" in page.text and "platform_error" in page.text


def test_expired_state_is_refused(lti_env: LtiEnvironment) -> None:
    from datetime import UTC, datetime, timedelta

    http = lti_env.browser()
    form = _until_auth_form(lti_env, http)
    with lti_env.runtime.db.unit_of_work() as db:
        for row in db.scalars(select(LtiLoginState)):
            row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    response = http.post(form["action"], data=form["fields"])
    assert response.status_code == 401 and "expired" in response.text


def test_launch_without_id_token(lti_env: LtiEnvironment) -> None:
    http = lti_env.browser()
    form = _until_auth_form(lti_env, http)
    response = http.post(form["action"], data={"state": form["fields"]["state"]})
    assert response.status_code == 400 and "id_token" in response.text


def test_pending_tool_cannot_launch(lti_env: LtiEnvironment) -> None:
    lti_env.tool.status = "pending"
    response = lti_env.browser().get(lti_env.platform.launch_url(LEARNER_ID, COURSE_ID))
    assert response.status_code == 403


def test_same_user_launching_twice_in_parallel_tabs(lti_env: LtiEnvironment) -> None:
    http = lti_env.browser()
    first = _until_auth_form(lti_env, http)
    second = _until_auth_form(lti_env, http)
    assert http.post(second["action"], data=second["fields"]).status_code == 200
    assert http.post(first["action"], data=first["fields"]).status_code == 200
    assert launch(http, lti_env.platform, TEACHER_ID, COURSE_ID).status_code == 200
