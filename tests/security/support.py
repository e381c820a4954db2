"""Launches with chosen claims: a real login against the tool, then the recorded Moodle 4.5 id_token
(tests/data/moodle-4.5/lti/) re-addressed to this tool and re-signed with the emulated platform's key,
so a mutated token passes the signature and reaches the checks behind it."""

from __future__ import annotations

import copy
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from credbridge.connector.store.models import LtiDeployment, LtiRegistration
from credbridge.lti.launch import claims as c
from tests.lti.support import LtiEnvironment
from tests.lti.tokens import change_claims, recorded

RECORDED_ISSUER = "http://127.0.0.1:8080"


def add_platform(env: LtiEnvironment, *, client_id: str, deployment_id: str = "9", linked: bool) -> int:
    """Another registration of the school on the emulated platform's address (and keys)."""
    with env.runtime.db.unit_of_work() as db:
        row = LtiRegistration(school_id=env.school_id, issuer=env.platform_url, client_id=client_id,
                              connection_id=env.connection_id if linked else None,
                              auth_login_url=env.platform_url + "/mod/lti/auth.php",
                              auth_token_url=env.platform_url + "/mod/lti/token.php",
                              key_set_url=env.platform_url + "/mod/lti/certs.php")
        db.add(row)
        db.flush()
        db.add(LtiDeployment(registration_id=row.id, deployment_id=deployment_id))
        return row.id


def login(client: FlaskClient, env: LtiEnvironment, *, client_id: str | None = None,
          login_hint: str = "5") -> tuple[str, str]:
    """POST /lti/login as Moodle's form does; returns (state, nonce) from the redirect to auth.php."""
    response = client.post("/lti/login", data={
        "iss": env.platform_url, "login_hint": login_hint, "target_link_uri": env.tool_url + "/lti/launch",
        "client_id": client_id or env.tool.client_id, "lti_deployment_id": env.tool.deployment_id})
    assert response.status_code == 302, response.get_data(as_text=True)
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    return query["state"][0], query["nonce"][0]


def readdress(env: LtiEnvironment, payload: dict[str, Any], *, nonce: str, client_id: str | None = None,
              deployment_id: str | None = None, now: float | None = None) -> dict[str, Any]:
    """The recorded payload as this environment's platform would send it now."""
    claims = copy.deepcopy(payload)
    iat = int(now if now is not None else time.time())
    claims.update({"iss": env.platform_url, "aud": client_id or env.tool.client_id, "nonce": nonce,
                   "iat": iat, "exp": iat + 60,
                   c.DEPLOYMENT_ID: deployment_id or env.tool.deployment_id,
                   c.TARGET_LINK_URI: env.tool_url + "/lti/launch"})
    settings = claims.get(c.DL_SETTINGS)
    if isinstance(settings, dict) and isinstance(settings.get("deep_link_return_url"), str):
        settings["deep_link_return_url"] = settings["deep_link_return_url"].replace(RECORDED_ISSUER,
                                                                                    env.platform_url)
    return claims


def recorded_claims(env: LtiEnvironment, name: str, *, nonce: str, **kwargs: Any) -> dict[str, Any]:
    return readdress(env, recorded(name)[1], nonce=nonce, **kwargs)


def sign_as_platform(env: LtiEnvironment, claims: dict[str, Any], **header: Any) -> str:
    """Sign whatever JSON the claims are (PyJWT's encode refuses a non-string ``iss``, which a
    hostile platform can still send), with the emulated platform's key and kid."""
    payload = json.dumps(claims, separators=(",", ":")).encode()
    return jwt.api_jws.PyJWS().encode(payload, env.platform._private_key, algorithm="RS256",
                                      headers={"kid": env.platform.kid, "typ": "JWT", **header})


def post_launch(client: FlaskClient, env: LtiEnvironment, state: str, claims: dict[str, Any]) -> TestResponse:
    return client.post("/lti/launch", data={"id_token": sign_as_platform(env, claims), "state": state})


def launch_with(client: FlaskClient, env: LtiEnvironment, recording: str, /, *, client_id: str | None = None,
                deployment_id: str | None = None, **changes: Any) -> TestResponse:
    """A whole launch with the recorded claims of ``recording``, changed by ``changes`` (``__`` for ``/`` in
    claim names; None removes the claim)."""
    state, nonce = login(client, env, client_id=client_id)
    claims = recorded_claims(env, recording, nonce=nonce, client_id=client_id, deployment_id=deployment_id)
    return post_launch(client, env, state, change_claims(claims, changes))
