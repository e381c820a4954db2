"""The services client against the recorded real Moodle 4.5 answers, replayed over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
import pytest
from flask import Flask, Response, request

from credbridge.connector.keys import ToolKey
from credbridge.connector.lti_services import Ags, Score, ServiceClient, ServiceError, TokenError, fetch_memberships
from credbridge.connector.lti_services.nrps import SCOPE as NRPS_SCOPE
from tests.lti.support import LTI_FIXTURES, serve
from tests.lti.tokens import TEST_KID, platform_private_pem

SERVICES = LTI_FIXTURES / "services"
RECORDED_BASE = "http://127.0.0.1:8080"


def _load(name: str) -> dict[str, Any]:
    return json.loads((SERVICES / name).read_text())


def _key(method: str, url: str) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    parts = urlsplit(url)
    return method, parts.path, tuple(sorted(parse_qsl(parts.query)))


def replay_app(base_holder: list[str], *, no_token_for_nrps: bool = False) -> Flask:
    """Answers every recorded request with the recorded status, headers and body (URLs rebased)."""
    index = json.loads((SERVICES / "index.json").read_text())
    table: dict[Any, list[str]] = {}
    for entry in index:
        if not entry["file"].startswith(("ERROR", "token")):
            table.setdefault(_key(entry["method"], entry["url"]), []).append(entry["file"])
    app = Flask(__name__)

    def answer(recording: dict[str, Any]) -> Response:
        body = recording["body"]
        text = body if isinstance(body, str) else json.dumps(body)
        headers = {k: v.replace(RECORDED_BASE, base_holder[0]) for k, v in recording["response_headers"].items()}
        return Response(text.replace(RECORDED_BASE, base_holder[0]), status=recording["status"], headers=headers)

    @app.post("/mod/lti/token.php")
    def token() -> Response:
        assertion = request.form["client_assertion"]
        if jwt.get_unverified_header(assertion).get("kid") == "unknown-kid":
            return answer(_load("ERROR__token__unknown_signing_key.json"))
        scope = request.form["scope"]
        if scope == "not-a-scope":
            return answer(_load("ERROR__token__invalid_scope.json"))
        if scope == "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly":
            return answer(_load("token__lineitem_readonly.json"))
        return answer(_load("token__all_scopes.json"))

    @app.route("/mod/lti/services.php/<path:rest>", methods=["GET", "POST"])
    def services(rest: str) -> Response:
        if no_token_for_nrps:
            return answer(_load("ERROR__nrps__no_token.json"))
        candidates = [_load(name) for name in table.get(_key(request.method, request.full_path.rstrip("?")), [])]
        sent = request.get_json(force=True, silent=True)
        if sent is not None:  # the recording of this very request, apart from the timestamp the client sets
            candidates = [r for r in candidates if {k: v for k, v in (r["request"].get("json") or {}).items()
                                                    if k != "timestamp"} == {k: v for k, v in sent.items()
                                                                             if k != "timestamp"}]
        if not candidates:
            return Response("not recorded", status=404)
        recording = candidates[0]  # the first: ags__lineitems__after repeats a URL after a change
        for header in ("Accept", "Content-Type"):
            if header in recording["request"].get("headers", {}):
                assert request.headers.get(header) == recording["request"]["headers"][header]
        return answer(recording)

    return app


@pytest.fixture
def recorded() -> Iterator[tuple[str, ServiceClient]]:
    holder = [""]
    with serve(replay_app(holder)) as url:
        holder[0] = url
        key = ToolKey(kid="vet-tool-key-1", private_pem=platform_private_pem(), public_jwk={})
        yield url, ServiceClient(client_id="63f37xS9yJfBaXO", token_url=url + "/mod/lti/token.php", key=key)


def test_recorded_nrps(recorded: tuple[str, ServiceClient]) -> None:
    base, client = recorded
    url = f"{base}/mod/lti/services.php/CourseSection/2/bindings/1/memberships"
    everyone = fetch_memberships(client, url)
    expected = _load("nrps__context_memberships.json")["body"]["members"]
    assert everyone.members == expected and everyone.pages == 1
    teachers = fetch_memberships(client, url, role="Instructor")
    assert teachers.members == _load("nrps__context_memberships__role=Instructor.json")["body"]["members"]


def test_recorded_nrps_first_page_has_a_next_link(recorded: tuple[str, ServiceClient]) -> None:
    base, client = recorded
    url = f"{base}/mod/lti/services.php/CourseSection/2/bindings/1/memberships"
    with pytest.raises(ServiceError) as info:  # page 2 was not recorded: the replay answers 404
        fetch_memberships(client, url, limit=5)
    assert info.value.status == 404 and "from=5" in info.value.url


def test_recorded_ags(recorded: tuple[str, ServiceClient]) -> None:
    base, client = recorded
    ags = Ags(client)
    lineitems = f"{base}/mod/lti/services.php/2/lineitems?type_id=1"
    items = ags.line_items(lineitems)
    assert items == json.loads(json.dumps(_load("ags__lineitems.json")["body"]).replace(RECORDED_BASE, base))
    lineitem = items[0]["id"]
    for name in ("ags__score__activity__student1.json", "ags__score__activity__student2.json"):
        sent = _load(name)["request"]["json"]
        ags.post_score(lineitem, Score(user_id=sent["userId"], score_given=sent["scoreGiven"],
                                       score_maximum=sent["scoreMaximum"], comment=sent["comment"]))
    results = ags.results(lineitem)
    assert {r["userId"]: r["resultScore"] for r in results} == {"6": 64, "5": 87}
    created = ags.create_line_item(lineitems, label="CNC simulator – bonus task", score_maximum=20,
                                   resource_id="cnc-bonus-1", tag="bonus", resource_link_id="1")
    assert created["id"] == f"{base}/mod/lti/services.php/2/lineitems/11/lineitem?type_id=1"


def test_recorded_token_errors(recorded: tuple[str, ServiceClient]) -> None:
    base, client = recorded
    with pytest.raises(TokenError) as info:
        client.access_token(["not-a-scope"])
    assert info.value.error == "invalid_scope" and info.value.status == 400
    stranger = ServiceClient(client_id="63f37xS9yJfBaXO", token_url=base + "/mod/lti/token.php",
                             key=ToolKey(kid="unknown-kid", private_pem=platform_private_pem(), public_jwk={}))
    with pytest.raises(TokenError) as info:
        stranger.access_token([NRPS_SCOPE])
    assert "unable to lookup correct key" in str(info.value)  # Moodle's non-JSON body, shown as is
    assert TEST_KID  # the test key exists


def test_recorded_unauthorised_service() -> None:
    holder = [""]
    with serve(replay_app(holder, no_token_for_nrps=True)) as url:
        holder[0] = url
        client = ServiceClient(client_id="63f37xS9yJfBaXO", token_url=url + "/mod/lti/token.php",
                               key=ToolKey(kid="k", private_pem=platform_private_pem(), public_jwk={}))
        with pytest.raises(ServiceError) as info:
            fetch_memberships(client, f"{url}/mod/lti/services.php/CourseSection/2/bindings/1/memberships")
    assert info.value.status == 401 and info.value.error == "Unauthorized"
    assert info.value.service == "NRPS memberships"
