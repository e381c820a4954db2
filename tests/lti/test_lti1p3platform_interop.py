"""A second, independent platform implementation (lti1p3platform) launches the tool over HTTP, so the
tool is not only tested against our own emulator's idea of LTI."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from flask import Flask, jsonify
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request

from credbridge.connector.store.models import LtiDeployment, LtiRegistration
from tests.lti.support import LtiEnvironment, serve
from tests.lti.tokens import platform_private_pem, platform_public_pem

CLIENT_ID = "lti1p3platform-client"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"


def _platform(issuer: str, tool_url: str) -> Any:
    class Platform(LTI1P3PlatformConfAbstract):
        def init_platform_config(self, **kwargs: Any) -> None:
            self._registration = (
                Registration().set_iss(issuer).set_client_id(CLIENT_ID).set_deployment_id("7")
                .set_launch_url(tool_url + "/lti/launch").set_deeplink_launch_url(tool_url + "/lti/launch")
                .set_oidc_login_url(tool_url + "/lti/login").set_tool_key_set({"keys": []})
                .set_platform_public_key(platform_public_pem().decode())
                .set_platform_private_key(platform_private_pem().decode()))

        def get_registration_by_params(self, **kwargs: Any) -> Registration:
            return self._registration

    return Platform()


class _Req(Request):
    def build_metadata(self, query: dict[str, str]) -> dict[str, Any]:
        return {"method": "GET", "form_data": {}, "get_data": query, "headers": {}, "content_type": None,
                "path": "/", "json": None}


class _Login(OIDCLoginAbstract):
    def set_lti_message_hint(self, **kwargs: Any) -> None:
        self._lti_message_hint = kwargs["hint"]

    def get_redirect(self, url: str) -> str:
        return url


class _Launch(LTIAdvantageMessageLaunchAbstract):
    def render_launch_form(self, data: Any, **kwargs: Any) -> Any:
        return data


def test_lti1p3platform_launches_a_teacher(lti_env: LtiEnvironment) -> None:
    jwks_app = Flask(__name__)
    holder: dict[str, Any] = {}
    jwks_app.add_url_rule("/certs", "certs", lambda: jsonify(holder["platform"].get_jwks()))
    with serve(jwks_app) as issuer:
        platform = _platform(issuer, lti_env.tool_url)
        holder["platform"] = platform
        with lti_env.runtime.db.unit_of_work() as db:
            registration = LtiRegistration(school_id=lti_env.school_id, issuer=issuer, client_id=CLIENT_ID,
                                           auth_login_url=issuer + "/auth", auth_token_url=issuer + "/token",
                                           key_set_url=issuer + "/certs")
            db.add(registration)
            db.flush()
            db.add(LtiDeployment(registration_id=registration.id, deployment_id="7"))
        http = lti_env.browser()
        login = _Login(_Req({}), platform)
        login.set_lti_message_hint(hint="42")
        redirect = http.get(login.prepare_preflight_url("1234"), allow_redirects=False, timeout=10)
        assert redirect.status_code == 302, redirect.text
        auth_query = dict(parse_qsl(urlsplit(redirect.headers["Location"]).query))
        assert urlsplit(redirect.headers["Location"]).path == "/auth"
        message = _Launch(_Req(auth_query), platform)
        message.set_user_data("1234", [INSTRUCTOR], full_name="Ivana Horvat", email_address="ivana@example.hr")
        message.set_resource_link_claim("rl-42")
        message.set_launch_context_claim("55", context_title="Robotics")
        message.set_id_token_expiration(60)
        form = message.lti_launch()
        page = http.post(lti_env.tool_url + "/lti/launch", data={"id_token": form["id_token"],
                                                                  "state": form["state"]}, timeout=10)
        assert page.status_code == 200, page.text
        assert page.url.endswith("/courses/55") and "Robotics" in page.text
        replay = http.post(lti_env.tool_url + "/lti/launch", data={"id_token": form["id_token"],
                                                                    "state": form["state"]}, timeout=10)
        assert replay.status_code == 401
