"""One test per LTI Advantage certification tool case (CERT §6.1-6.4), each through the real tool:
a login at /lti/login, then an id_token built from the recorded Moodle payload, signed by the
emulated platform's key, posted to /lti/launch with the browser's state cookie."""

from __future__ import annotations

import copy
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from flask import Flask, Response, request

from credbridge.connector.keys import ToolKey
from credbridge.connector.lti_services import Ags, Score, ServiceClient, fetch_memberships
from credbridge.lti.deep_linking import content_item, response_jwt
from credbridge.lti.launch import claims as c
from tests.lti.support import LtiEnvironment, serve
from tests.lti.tokens import platform_jwks, platform_private_pem, recorded

INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"


def _login(env: LtiEnvironment, http: requests.Session) -> tuple[str, str]:
    params = {"iss": env.platform_url, "login_hint": "35", "client_id": env.tool.client_id,
              "target_link_uri": env.tool_url + "/lti/launch", "lti_deployment_id": env.tool.deployment_id}
    response = http.post(env.tool_url + "/lti/login", data=params, allow_redirects=False)
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    return query["state"][0], query["nonce"][0]


def _claims(env: LtiEnvironment, nonce: str, recording: str = "instructor", /, **changes: Any) -> dict[str, Any]:
    _, payload = recorded(recording)
    claims = copy.deepcopy(payload)
    now = int(time.time())
    claims.update({"iss": env.platform_url, "aud": env.tool.client_id, "nonce": nonce, "iat": now, "exp": now + 60,
                   c.DEPLOYMENT_ID: env.tool.deployment_id, c.TARGET_LINK_URI: env.tool_url + "/lti/launch"})
    for key, value in changes.items():
        if value is None:
            claims.pop(key, None)
        else:
            claims[key] = value
    return claims


def _post(env: LtiEnvironment, http: requests.Session, state: str, token: str) -> requests.Response:
    return http.post(env.tool_url + "/lti/launch", data={"id_token": token, "state": state})


def launch_with(env: LtiEnvironment, recording: str = "instructor", /, *, sign_with: Any = None, headers: Any = None,
                raw: str | None = None, **changes: Any) -> requests.Response:
    http = env.browser()
    state, nonce = _login(env, http)
    if raw is not None:
        return _post(env, http, state, raw)
    token = sign_with(_claims(env, nonce, recording, **changes)) if sign_with else \
        env.platform._sign(_claims(env, nonce, recording, **changes)) if headers is None else \
        jwt.encode(_claims(env, nonce, recording, **changes), env.platform._private_pem, algorithm="RS256",
                   headers=headers)
    return _post(env, http, state, token)


def refused(response: requests.Response, check: str) -> None:
    assert response.status_code in (400, 401, 403), response.text
    assert f'<code class="check">{check}</code>' in response.text, response.text
    assert "Traceback" not in response.text


# --- CERT 6.1.1 known bad payloads -----------------------------------------------------------------

def test_cert_6_1_1_no_kid(lti_env: LtiEnvironment) -> None:
    refused(launch_with(lti_env, headers={}), "kid")


def test_cert_6_1_1_incorrect_kid(lti_env: LtiEnvironment) -> None:
    refused(launch_with(lti_env, headers={"kid": "imstester_3"}), "kid")


def test_cert_6_1_1_wrong_lti_version(lti_env: LtiEnvironment) -> None:
    refused(launch_with(lti_env, **{c.VERSION: "1.2.0"}), "version")


def test_cert_6_1_1_no_lti_version(lti_env: LtiEnvironment) -> None:
    refused(launch_with(lti_env, **{c.VERSION: None}), "version")


def test_cert_6_1_1_invalid_lti_message(lti_env: LtiEnvironment) -> None:
    refused(launch_with(lti_env, raw="not-a-jwt"), "id_token")


def test_cert_6_1_1_missing_lti_claims(lti_env: LtiEnvironment) -> None:
    refused(launch_with(lti_env, **{c.MESSAGE_TYPE: None, c.ROLES: None, c.RESOURCE_LINK: None}), "message_type")


def test_cert_6_1_1_timestamps_incorrect(lti_env: LtiEnvironment) -> None:
    past = int(time.time()) - 3600
    refused(launch_with(lti_env, iat=past, exp=past + 60), "exp")


def test_cert_6_1_1_message_type_missing(lti_env: LtiEnvironment) -> None:
    refused(launch_with(lti_env, **{c.MESSAGE_TYPE: None}), "message_type")


def test_cert_6_1_1_role_claim_missing(lti_env: LtiEnvironment) -> None:
    refused(launch_with(lti_env, **{c.ROLES: None}), "roles")


def test_cert_6_1_1_deployment_id_missing(lti_env: LtiEnvironment) -> None:
    refused(launch_with(lti_env, **{c.DEPLOYMENT_ID: None}), "deployment_id")


def test_cert_6_1_1_resource_link_id_missing(lti_env: LtiEnvironment) -> None:
    refused(launch_with(lti_env, **{c.RESOURCE_LINK: {"title": "no id"}}), "resource_link")


def test_cert_6_1_1_user_claim_missing(lti_env: LtiEnvironment) -> None:
    # an empty sub names nobody; an absent sub is an anonymous launch (LTI Core §5.3.6), see below
    refused(launch_with(lti_env, sub=""), "sub")


def test_cert_6_1_1_signed_by_another_key(lti_env: LtiEnvironment) -> None:
    other = platform_jwks()["keys"][0]["kid"]
    refused(launch_with(lti_env, sign_with=lambda claims: jwt.encode(claims, platform_private_pem(), "RS256",
                                                                       headers={"kid": lti_env.platform.kid})),
            "signature")
    assert other


# --- CERT 6.1.2 / 6.1.3 valid teacher and student launches ---------------------------------------

def landed(response: requests.Response, path: str) -> None:
    assert response.status_code == 200, response.text
    assert urlsplit(response.url).path.startswith(path), response.url


def test_cert_6_1_2_teacher_launch(lti_env: LtiEnvironment) -> None:
    landed(launch_with(lti_env), "/courses/2")


def test_cert_6_1_2_teacher_multiple_roles(lti_env: LtiEnvironment) -> None:
    roles = [INSTRUCTOR, "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Faculty",
             "http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor"]
    landed(launch_with(lti_env, **{c.ROLES: roles}), "/courses/2")


def test_cert_6_1_2_teacher_short_role(lti_env: LtiEnvironment) -> None:
    landed(launch_with(lti_env, **{c.ROLES: ["Instructor"]}), "/courses/2")


def test_cert_6_1_2_teacher_unknown_role_grants_nothing(lti_env: LtiEnvironment) -> None:
    response = launch_with(lti_env, **{c.ROLES: ["http://purl.imsglobal.org/vocab/lis/v2/membership#Wizard"]})
    assert response.status_code == 200  # the launch is valid; the unknown role just opens no teacher page


def test_cert_6_1_2_teacher_no_role(lti_env: LtiEnvironment) -> None:
    assert launch_with(lti_env, **{c.ROLES: []}).status_code == 200


def test_cert_6_1_2_teacher_email_only(lti_env: LtiEnvironment) -> None:
    landed(launch_with(lti_env, name=None, given_name=None, family_name=None), "/courses/2")


def test_cert_6_1_2_teacher_names_only(lti_env: LtiEnvironment) -> None:
    response = launch_with(lti_env, email=None)
    landed(response, "/courses/2")
    assert "Mikko Laine" in response.text


def test_cert_6_1_2_teacher_no_pii(lti_env: LtiEnvironment) -> None:
    landed(launch_with(lti_env, name=None, given_name=None, family_name=None, email=None,
                       **{c.LIS: None, c.EXT: None}), "/courses/2")


def test_cert_6_1_2_teacher_email_and_names(lti_env: LtiEnvironment) -> None:
    landed(launch_with(lti_env), "/courses/2")


def test_cert_6_1_2_teacher_no_context(lti_env: LtiEnvironment) -> None:
    assert launch_with(lti_env, **{c.CONTEXT: None}).status_code == 200


def test_cert_6_1_3_student_launch(lti_env: LtiEnvironment) -> None:
    landed(launch_with(lti_env, "learner"), "/learner")


def test_cert_6_1_3_student_multiple_roles(lti_env: LtiEnvironment) -> None:
    roles = [LEARNER, "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student"]
    landed(launch_with(lti_env, "learner", **{c.ROLES: roles}), "/learner")


def test_cert_6_1_3_student_short_role(lti_env: LtiEnvironment) -> None:
    landed(launch_with(lti_env, "learner", **{c.ROLES: ["Learner"]}), "/learner")


def test_cert_6_1_3_student_unknown_role(lti_env: LtiEnvironment) -> None:
    assert launch_with(lti_env, "learner", **{c.ROLES: ["urn:example:role#Visitor"]}).status_code == 200


def test_cert_6_1_3_student_no_role(lti_env: LtiEnvironment) -> None:
    assert launch_with(lti_env, "learner", **{c.ROLES: []}).status_code == 200


def test_cert_6_1_3_student_email_only(lti_env: LtiEnvironment) -> None:
    response = launch_with(lti_env, "learner", name=None, given_name=None, family_name=None)
    landed(response, "/learner")


def test_cert_6_1_3_student_names_only(lti_env: LtiEnvironment) -> None:
    response = launch_with(lti_env, "learner", email=None)
    landed(response, "/learner")
    assert "Aino Virtanen" in response.text


def test_cert_6_1_3_student_no_pii(lti_env: LtiEnvironment) -> None:
    response = launch_with(lti_env, "learner", name=None, given_name=None, family_name=None, email=None,
                           **{c.LIS: None, c.EXT: None})
    landed(response, "/learner")


def test_cert_6_1_3_student_no_context(lti_env: LtiEnvironment) -> None:
    landed(launch_with(lti_env, "learner", **{c.CONTEXT: None}), "/learner")


def test_anonymous_launch_without_sub(lti_env: LtiEnvironment) -> None:
    response = launch_with(lti_env, "learner", sub=None)
    assert response.status_code == 200 and urlsplit(response.url).path == "/"
    # nobody to match to a learner: the page says why nothing is shown and what the admin can change
    assert "without saying who you are" in response.text and '<code class="check">sub</code>' in response.text
    assert "Signed in as" not in response.text


def test_administrator_roles(lti_env: LtiEnvironment) -> None:
    roles = ["http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator",
             "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator"]
    landed(launch_with(lti_env, **{c.ROLES: roles}), "/courses/2")


# --- CERT 6.2 deep linking response -------------------------------------------------------------

def test_cert_6_2_deep_linking_response_format_timestamps_signature_claims() -> None:
    key = ToolKey(kid="tool-1", private_pem=platform_private_pem(), public_jwk={})
    before = int(time.time())
    token = response_jwt(key, client_id="cid", platform_issuer="http://127.0.0.1:8080", deployment_id="1",
                         items=[content_item("Credentials", ["A", "B"], grade_item=True)], data="opaque-data")
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "RS256", "kid": "tool-1", "typ": "JWT"}
    public = jwt.PyJWKSet.from_dict(platform_jwks()).keys[0].key
    claims = jwt.decode(token, public, algorithms=["RS256"], audience="http://127.0.0.1:8080", issuer="cid")
    assert before <= claims["iat"] <= int(time.time()) and claims["exp"] == claims["iat"] + 600
    assert claims[c.MESSAGE_TYPE] == "LtiDeepLinkingResponse" and claims[c.VERSION] == "1.3.0"
    assert claims[c.DEPLOYMENT_ID] == "1" and claims[c.DL_DATA] == "opaque-data" and claims["nonce"]
    (item,) = claims[c.DL_CONTENT_ITEMS]
    assert item == {"type": "ltiResourceLink", "title": "Credentials", "custom": {"credential_templates": "A,B"},
                    "lineItem": {"scoreMaximum": 100, "label": "Credentials", "resourceId": "A,B",
                                 "tag": "credbridge"}}


# --- CERT 6.3 / 6.4 services: headers, token, scopes --------------------------------------------

@pytest.fixture
def capture() -> Any:
    seen: list[dict[str, Any]] = []
    app = Flask(__name__)

    @app.post("/token")
    def token() -> Response:
        seen.append({"path": "/token", "form": dict(request.form), "headers": dict(request.headers)})
        return Response(json.dumps({"access_token": "T", "token_type": "Bearer", "expires_in": 3600}))

    @app.route("/svc/<path:rest>", methods=["GET", "POST"])
    def svc(rest: str) -> Response:
        seen.append({"path": "/svc/" + rest, "query": request.query_string.decode(),
                     "headers": dict(request.headers), "body": request.get_data(as_text=True)})
        if rest.endswith("memberships"):
            return Response(json.dumps({"context": {"id": "2"}, "members": []}))
        if rest.endswith("scores"):
            return Response("", status=200)
        if request.method == "POST":
            return Response(json.dumps({"id": "x"}), status=201)
        return Response("[]")

    with serve(app) as url:
        key = ToolKey(kid="tool-1", private_pem=platform_private_pem(), public_jwk={})
        yield url, ServiceClient(client_id="cid", token_url=url + "/token", key=key), seen


def test_cert_6_3_nrps_headers_token_scope(capture: Any) -> None:
    url, client, seen = capture
    fetch_memberships(client, url + "/svc/memberships")
    token_call, call = seen
    assert token_call["form"]["grant_type"] == "client_credentials"
    assert token_call["form"]["scope"] == "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
    assert token_call["form"]["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert token_call["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert call["headers"]["Accept"] == "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
    assert call["headers"]["Authorization"] == "Bearer T"


def test_cert_6_4_ags_headers_token_scopes(capture: Any) -> None:
    url, client, seen = capture
    ags = Ags(client)
    ags.line_items(url + "/svc/lineitems?type_id=1")
    ags.create_line_item(url + "/svc/lineitems?type_id=1", label="L", score_maximum=10)
    ags.post_score(url + "/svc/lineitems/10/lineitem?type_id=1", Score(user_id="5", score_given=7, score_maximum=10))
    ags.results(url + "/svc/lineitems/10/lineitem?type_id=1")
    calls = [s for s in seen if s["path"] != "/token"]
    scopes = [s["form"]["scope"] for s in seen if s["path"] == "/token"]
    assert [s.rsplit("/", 1)[1] for s in scopes] == ["lineitem.readonly", "lineitem", "score", "result.readonly"]
    assert calls[0]["headers"]["Accept"] == "application/vnd.ims.lis.v2.lineitemcontainer+json"
    assert calls[1]["headers"]["Content-Type"] == "application/vnd.ims.lis.v2.lineitem+json"
    assert calls[2]["path"] == "/svc/lineitems/10/lineitem/scores" and calls[2]["query"] == "type_id=1"
    assert calls[2]["headers"]["Content-Type"] == "application/vnd.ims.lis.v1.score+json"
    body = json.loads(calls[2]["body"])
    assert body["userId"] == "5" and body["gradingProgress"] == "FullyGraded" and body["timestamp"].endswith("Z")
    assert calls[3]["path"] == "/svc/lineitems/10/lineitem/results"
    assert calls[3]["headers"]["Accept"] == "application/vnd.ims.lis.v2.resultcontainer+json"
