"""Property: whatever a platform (or someone posting in its place) sends to the LTI endpoints, the
answer is never a 500 and every refusal names its check.

The id_tokens are the recorded real Moodle 4.5 launches (tests/data/moodle-4.5/lti/), mutated claim
by claim and re-signed with the emulated platform's key, so that the signature passes and the
mutation reaches the checks and the code behind them (sessions, learner matching, landing pages,
deep linking). Examples are derandomised: the same on every run.
"""

from __future__ import annotations

import re
from typing import Any

import jwt
import pytest
from flask.testing import FlaskClient
from hypothesis import event, given, settings
from hypothesis import strategies as st

from credbridge.connector.store.models import TemplateDefinition
from credbridge.lti.launch import claims as c
from tests.lti.support import LtiEnvironment
from tests.lti.tokens import RECORDED, recorded
from tests.security.strategies import FUZZ, HOSTILE_STRINGS, apply, json_values, mutations
from tests.security.support import login, post_launch, readdress, sign_as_platform

CHECK = re.compile(r'<code class="check">([^<]+)</code>')
NEW_CLAIMS = ["nbf", "sub", "email", "name", "azp", c.LIS, c.CUSTOM, c.AGS_ENDPOINT, c.LAUNCH_PRESENTATION,
              c.CONTEXT, c.RESOURCE_LINK, c.DL_SETTINGS, "jti", "aud"]
PAYLOADS = {name: recorded(name)[1] for name in RECORDED}
MUTATIONS = st.sampled_from(sorted(PAYLOADS)).flatmap(
    lambda name: st.tuples(st.just(name), mutations(PAYLOADS[name], NEW_CLAIMS)))


def _no_500(client: FlaskClient, response: Any, what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code}\n{response.get_data(as_text=True)[:800]}"


def _reason(response: Any) -> str | None:
    found = CHECK.search(response.get_data(as_text=True))
    return found.group(1) if found else None


def _follow(client: FlaskClient, response: Any, what: str) -> None:
    """The landing page of a launch that passed, and what a teacher does next on it."""
    location = response.headers["Location"]
    landing = client.get(location)
    _no_500(client, landing, f"{what} → {location}")
    if location.endswith("/lti/deep-link") and landing.status_code == 200:
        token = re.search(r'name="csrf_token" value="([^"]+)"', landing.get_data(as_text=True))
        answer = client.post("/lti/deep-link", data={"csrf_token": token.group(1) if token else "",
                                                     "template": "CNC-BASICS", "title": "x"})
        _no_500(client, answer, f"{what} → deep-link submit")


def _templates(env: LtiEnvironment) -> None:
    with env.runtime.db.unit_of_work() as db:
        if db.get(TemplateDefinition, 1) is None:
            db.add(TemplateDefinition(school_id=env.school_id, code="CNC-BASICS", title="CNC basics", definition={}))


@settings(FUZZ, max_examples=300)
@given(case=MUTATIONS)
def test_mutated_recorded_launches_never_500(lti_env: LtiEnvironment, client: FlaskClient,
                                              case: tuple[str, list]) -> None:
    _mutated_launch(lti_env, client, case)


@pytest.mark.postgres
@settings(FUZZ, max_examples=80)
@given(case=MUTATIONS)
def test_mutated_recorded_launches_never_500_on_postgres(pg_lti_env: LtiEnvironment,
                                                          case: tuple[str, list]) -> None:
    _mutated_launch(pg_lti_env, pg_lti_env.app.test_client(), case)


def _mutated_launch(lti_env: LtiEnvironment, client: FlaskClient, case: tuple[str, list]) -> None:
    _templates(lti_env)
    name, changes = case
    state, nonce = login(client, lti_env)
    claims = apply(readdress(lti_env, PAYLOADS[name], nonce=nonce), changes)
    response = post_launch(client, lti_env, state, claims)
    event(f"launch answered {response.status_code}")
    what = f"{name} with {changes!r}"[:2000]
    _no_500(client, response, what)
    if response.status_code == 303:
        _follow(client, response, what)
    else:
        assert response.status_code in (400, 401, 403), what
        assert _reason(response), f"{what}: refused without naming the check"


@settings(FUZZ, max_examples=60)
@given(header=st.dictionaries(st.sampled_from(["alg", "kid", "typ", "jku", "x5u", "crit"]), json_values,
                              max_size=3),
       name=st.sampled_from(sorted(PAYLOADS)))
def test_tokens_with_hostile_headers_or_signatures_never_500(lti_env: LtiEnvironment, client: FlaskClient,
                                                             header: dict, name: str) -> None:
    state, nonce = login(client, lti_env)
    claims = readdress(lti_env, PAYLOADS[name], nonce=nonce)
    try:
        token = sign_as_platform(lti_env, claims, **header)
    except (TypeError, ValueError, NotImplementedError, jwt.PyJWTError):
        return  # PyJWT cannot even build such a header: no platform could send it either
    response = client.post("/lti/launch", data={"id_token": token, "state": state})
    _no_500(client, response, repr(header))
    if response.status_code != 303:
        assert _reason(response), repr(header)


@settings(FUZZ, max_examples=60)
@given(token=st.one_of(st.text(max_size=300), st.sampled_from(HOSTILE_STRINGS),
                       st.lists(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=",
                                        max_size=60), min_size=1, max_size=5).map(".".join)),
       state=st.one_of(st.none(), st.text(max_size=100), st.sampled_from(HOSTILE_STRINGS)))
def test_garbage_launch_posts_never_500(lti_env: LtiEnvironment, client: FlaskClient, token: str,
                                        state: str | None) -> None:
    real_state, _nonce = login(client, lti_env)
    data = {"id_token": token, "state": real_state if state is None else state}
    response = client.post("/lti/launch", data=data)
    _no_500(client, response, repr(data))
    assert response.status_code in (400, 401, 403) and _reason(response), repr(data)[:300]


LOGIN_FIELDS = ["iss", "login_hint", "target_link_uri", "client_id", "lti_deployment_id", "lti_message_hint"]


@settings(FUZZ, max_examples=100)
@given(fields=st.dictionaries(st.sampled_from(LOGIN_FIELDS),
                              st.one_of(st.text(max_size=80), st.sampled_from(HOSTILE_STRINGS)), max_size=6),
       keep=st.lists(st.sampled_from(LOGIN_FIELDS), max_size=6), method=st.sampled_from(["GET", "POST"]))
def test_login_initiations_never_500(lti_env: LtiEnvironment, client: FlaskClient, fields: dict, keep: list,
                                     method: str) -> None:
    real = {"iss": lti_env.platform_url, "login_hint": "5", "target_link_uri": lti_env.tool_url + "/lti/launch",
            "client_id": lti_env.tool.client_id, "lti_deployment_id": lti_env.tool.deployment_id}
    data = {**{k: v for k, v in real.items() if k in keep}, **fields}
    response = client.open("/lti/login", method=method, data=data if method == "POST" else None,
                           query_string=data if method == "GET" else None)
    _no_500(client, response, repr(data))
    if response.status_code != 302:
        assert _reason(response), repr(data)[:300]
