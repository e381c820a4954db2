"""Review finding 3: Dynamic Registration fetches only http(s) URLs, follows no redirect, reaches a
loopback or private address only where the operator allowed its network, requires every endpoint on
the platform's own origin, and answers the same whatever a probed host and port did."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask, Response, jsonify, redirect
from flask.testing import FlaskClient
from sqlalchemy import select

from credbridge.connector.keys import school_registration_token
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import LtiRegistration
from credbridge.lti import dynamic_registration
from credbridge.lti.app import create_app
from credbridge.lti.platform_http import address_allowed, guarded_session, networks
from tests.lti.support import TEST_SECRET_KEY, LtiEnvironment, serve, tool_runtime


class Probe:
    """A small HTTP server that records what reached it and answers what a test sets."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.answer: Any = ("", 401)
        self.app = Flask(__name__)
        self.app.add_url_rule("/<path:path>", "any", self._any, methods=["GET", "POST"])
        self.url = ""

    def _any(self, path: str) -> Any:
        self.hits.append(path)
        return self.answer(self.url) if callable(self.answer) else self.answer


@pytest.fixture
def probe() -> Iterator[Probe]:
    found = Probe()
    with serve(found.app) as url:
        found.url = url
        yield found


def _token(school_id: int) -> str:
    return school_registration_token(TEST_SECRET_KEY, school_id)


def _register(client: FlaskClient, school_id: int, config_url: str) -> Any:
    return client.get("/lti/register", query_string={"openid_configuration": config_url, "registration_token": "t",
                                                     "school": _token(school_id)})


def _config(base: str, **override: str) -> dict[str, str]:
    return {"issuer": base, "authorization_endpoint": base + "/mod/lti/auth.php",
            "token_endpoint": base + "/mod/lti/token.php", "jwks_uri": base + "/mod/lti/certs.php",
            "registration_endpoint": base + "/mod/lti/openid-registration.php", **override}


@pytest.fixture
def strict_client(lti_env: LtiEnvironment, sqlite_database: Database) -> FlaskClient:
    """The tool as installed by default: no private network allowed."""
    app = create_app(tool_runtime(sqlite_database, lti_env.tool_url, private_networks=()),
                     config={"LTI_COOKIE_SECURE": False})
    return app.test_client()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "127.1"])
def test_loopback_is_refused_unless_the_operator_allows_it(lti_env: LtiEnvironment, strict_client: FlaskClient,
                                                           probe: Probe, host: str) -> None:
    probe.answer = lambda base: jsonify(_config(base))
    port = probe.url.rsplit(":", 1)[1]
    page = _register(strict_client, lti_env.school_id, f"http://{host}:{port}/mod/lti/openid-configuration.php")
    assert page.status_code == 502
    assert "CREDBRIDGE_LTI_PRIVATE_NETWORKS" in page.get_data(as_text=True)
    assert probe.hits == []  # not even a connection


def test_the_operator_setting_allows_an_on_premises_platform(lti_env: LtiEnvironment, client: FlaskClient,
                                                             probe: Probe) -> None:
    probe.answer = lambda base: jsonify(_config(base))
    page = _register(client, lti_env.school_id, probe.url + "/mod/lti/openid-configuration.php")
    assert page.status_code == 200 and probe.hits == ["mod/lti/openid-configuration.php"]


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1:25/x", "ftp://127.0.0.1/x",
                                 "http://user:pw@127.0.0.1/x", "javascript:alert(1)", "http:///x", "//127.0.0.1/"])
def test_only_plain_http_urls_are_fetched(lti_env: LtiEnvironment, client: FlaskClient, url: str) -> None:
    page = _register(client, lti_env.school_id, url)
    assert page.status_code == 502 and "is refused" in page.get_data(as_text=True)


def test_redirects_are_not_followed(lti_env: LtiEnvironment, client: FlaskClient, probe: Probe) -> None:
    probe.answer = lambda base: redirect(base + "/internal/secret")
    page = _register(client, lti_env.school_id, probe.url + "/config")
    assert page.status_code == 502 and probe.hits == ["config"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Silent:
    """Accepts connections and never answers (a filtered port, a hung service)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()


def _unreadable_text(page: Any, url: str) -> str:
    text = page.get_data(as_text=True).replace(url, "URL")
    return re.search(r"<p class=\"error[^\"]*\">(.*?)</p>", text, re.S).group(1)


def test_refused_timed_out_and_other_answers_look_the_same(lti_env: LtiEnvironment, client: FlaskClient,
                                                           probe: Probe, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dynamic_registration, "TIMEOUT", 0.5)
    silent = _Silent()
    answers: dict[str, tuple[int, str]] = {}
    try:
        cases = {"refused": f"http://127.0.0.1:{_closed_port()}/c", "timeout": f"http://127.0.0.1:{silent.port}/c"}
        for name, answer in (("401", ("no", 401)), ("html", ("<html>login</html>", 200)),
                             ("not-an-object", ("[1, 2]", 200, {"Content-Type": "application/json"})),
                             ("500", ("boom", 500)),
                             ("huge", Response(b"{" + b" " * 400_000 + b"}", mimetype="application/json"))):
            cases[name] = f"{probe.url}/{name}"
            probe.answer = answer
            page = _register(client, lti_env.school_id, cases[name])
            answers[name] = (page.status_code, _unreadable_text(page, cases[name]))
        for name in ("refused", "timeout"):
            page = _register(client, lti_env.school_id, cases[name])
            answers[name] = (page.status_code, _unreadable_text(page, cases[name]))
    finally:
        silent.close()
    assert len(set(answers.values())) == 1, answers
    status, message = next(iter(answers.values()))
    assert status == 502 and "could not read an LTI platform configuration" in message


@pytest.mark.parametrize("endpoint", ["registration_endpoint", "jwks_uri", "token_endpoint",
                                      "authorization_endpoint"])
def test_every_endpoint_must_be_on_the_platforms_own_origin(lti_env: LtiEnvironment, client: FlaskClient,
                                                            probe: Probe, endpoint: str) -> None:
    elsewhere = f"http://127.0.0.1:{_closed_port()}/steal"
    probe.answer = lambda base: jsonify(_config(base, **{endpoint: elsewhere}))
    page = _register(client, lti_env.school_id, probe.url + "/config")
    assert page.status_code == 502 and f"{endpoint}" in page.get_data(as_text=True)
    assert "is not on its own origin" in page.get_data(as_text=True)


def test_a_refused_configuration_registers_nothing_and_posts_nothing(lti_env: LtiEnvironment, client: FlaskClient,
                                                                     probe: Probe) -> None:
    probe.answer = lambda base: jsonify(_config(base, registration_endpoint="http://169.254.169.254/latest"))
    form = {"openid_configuration": probe.url + "/config", "registration_token": "t",
            "school": _token(lti_env.school_id)}
    page = _register(client, lti_env.school_id, probe.url + "/config")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    posted = client.post("/lti/register", data={**form, "csrf_token": csrf.group(1) if csrf else ""})
    assert posted.status_code in (400, 502)
    with lti_env.runtime.db.unit_of_work() as db:
        assert db.scalars(select(LtiRegistration).where(LtiRegistration.registered_by == "dynamic")).all() == []


@pytest.mark.parametrize("address, allowed", [
    ("127.0.0.1", False), ("10.1.2.3", False), ("192.168.1.10", False), ("172.16.0.1", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("::1", False),
    ("::ffff:127.0.0.1", False), ("fe80::1%eth0", False), ("fc00::1", False), ("224.0.0.1", False),
    ("8.8.8.8", True), ("2001:4860:4860::8888", True),
])
def test_which_addresses_are_reached_by_default(address: str, allowed: bool) -> None:
    assert address_allowed(address, ()) is allowed


def test_an_allowed_network_opens_exactly_that_network() -> None:
    allowed = networks(["10.20.0.0/16"])
    assert address_allowed("10.20.3.4", allowed) and not address_allowed("10.21.0.1", allowed)


def test_the_connection_itself_refuses_a_name_that_resolves_to_loopback(probe: Probe) -> None:
    """What a DNS-rebinding name does at connection time: resolve to 127.0.0.1 after the check."""
    port = probe.url.rsplit(":", 1)[1]
    session = guarded_session(())
    with pytest.raises(requests.ConnectionError):
        session.get(f"http://localhost:{port}/x", timeout=2)
    assert probe.hits == []
    allowed = guarded_session(networks(["127.0.0.0/8"]))
    probe.answer = ("ok", 200)
    assert allowed.get(f"http://localhost:{port}/x", timeout=2).text == "ok"


def test_the_end_to_end_registration_still_works(lti_env: LtiEnvironment) -> None:
    from tests.lti.support import forms

    http = requests.Session()
    page = http.get(lti_env.platform.registration_url(lti_env.tool_url + "/lti/register",
                                                      school=_token(lti_env.school_id)))
    assert page.status_code == 200
    done = http.post(lti_env.tool_url + "/lti/register", data=forms(page.text)[0]["fields"])
    assert done.status_code == 200 and "org.imsglobal.lti.close" in done.text
