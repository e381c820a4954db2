"""Reusable LTI test helpers: real HTTP servers on 127.0.0.1, the emulated Moodle platform, the tool,
and ``launch(...)`` which walks a browser through a whole launch in one call.

Other test areas::

    from tests.lti.support import lti_environment, launch
    with lti_environment(sqlite_database) as env:
        page = launch(env.browser(), env.platform, user_id=35, course_id=2)   # teacher of CNC101
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler
from werkzeug.serving import make_server as _make_server

from credbridge.connector.runtime import Runtime
from credbridge.connector.settings import load_settings
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import LmsConnection, LtiDeployment, LtiRegistration, School
from credbridge.emulator.dataset import Site
from credbridge.emulator.lti_platform import LtiPlatform, ToolType, create_platform_app
from credbridge.lti.app import create_app

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "data" / "moodle-4.5"
LTI_FIXTURES = FIXTURES / "lti"
TEST_SECRET_KEY = "test-secret-key-0123456789abcdef-not-for-production"
TEACHER_ID, LEARNER_ID, OTHER_LEARNER_ID, COURSE_ID, OTHER_COURSE_ID = 35, 5, 6, 2, 3


class _NoDelayHandler(WSGIRequestHandler):
    # werkzeug writes headers and body separately; with Nagle on, each response waits for the
    # client's delayed ACK (~40 ms), which made every request of a launch slow
    disable_nagle_algorithm = True


def make_server(host: str, port: int, app: Any, *, threaded: bool = True) -> BaseWSGIServer:
    assert host == "127.0.0.1"
    return _make_server(host, port, app, threaded=threaded, request_handler=_NoDelayHandler)


class _Placeholder:
    def __call__(self, environ: Any, start_response: Any) -> Any:  # replaced before serving
        raise RuntimeError("server started before its app was set")


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve a WSGI app on 127.0.0.1 (free port) in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def start(server: BaseWSGIServer, app: Any) -> threading.Thread:
    server.app = app
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return thread


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get").lower(),
                               "fields": {}, "multi": {}})
        elif tag == "input" and self.forms and a.get("name"):
            form = self.forms[-1]
            if a.get("type") in ("checkbox", "radio"):
                form["multi"].setdefault(a["name"], []).append(a.get("value", "on"))
            else:
                form["fields"][a["name"]] = a.get("value", "")


def forms(page: str) -> list[dict[str, Any]]:
    parser = _Forms()
    parser.feed(page)
    return parser.forms


def submit_autopost(http: requests.Session, response: requests.Response) -> requests.Response:
    """Do what the browser's script does with an auto-posting form."""
    found = forms(response.text)
    assert found, f"no form in the page {response.url}: {response.text[:300]}"
    form = found[0]
    return http.post(form["action"], data=form["fields"], allow_redirects=True, timeout=20)


def launch(http: requests.Session, platform: LtiPlatform, user_id: int, course_id: int, *,
           message_type: str = "LtiResourceLinkRequest", tool: ToolType | None = None,
           cmid: int | None = None) -> requests.Response:
    """A full launch like a browser in Moodle: launch.php → tool login → auth.php → tool launch → page."""
    start_page = http.get(platform.launch_url(user_id, course_id, message_type=message_type, tool=tool, cmid=cmid),
                          timeout=20)
    start_page.raise_for_status()
    auth_page = submit_autopost(http, start_page)  # POST /lti/login → 302 → GET auth.php → form
    auth_page.raise_for_status()
    return submit_autopost(http, auth_page)  # POST /lti/launch → 303 → the landing page


@functools.cache
def _platform_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)  # one per test process: keygen is slow


@dataclass
class LtiEnvironment:
    site: Site
    platform: LtiPlatform
    platform_url: str
    tool_url: str
    app: Flask
    runtime: Runtime
    tool: ToolType
    school_id: int
    registration_id: int
    connection_id: int

    def browser(self) -> requests.Session:
        return requests.Session()


def tool_runtime(database: Database, base_url: str, *, private_networks: tuple[str, ...] = ("127.0.0.0/8",)) -> Runtime:
    """The tool's runtime; the emulated platforms live on loopback, which Dynamic Registration reaches
    only when the operator allows it (as a school with an on-premises Moodle does for its network)."""
    settings = load_settings(secret_key=TEST_SECRET_KEY, database_url=database.url, base_url=base_url,
                             lti_private_networks=list(private_networks))
    return Runtime(settings=settings, db=database)


def add_registration(database: Database, *, platform_url: str, client_id: str, deployment_id: str,
                     school_slug: str = "vet", with_connection: bool = True) -> tuple[int, int, int | None]:
    with database.unit_of_work() as db:
        school = School(slug=school_slug, legal_name=f"{school_slug.upper()} College", country="FI")
        db.add(school)
        db.flush()
        connection = None
        if with_connection:
            connection = LmsConnection(school_id=school.id, name="moodle", base_url=platform_url, ws_token="t" * 32)
            db.add(connection)
            db.flush()
        registration = LtiRegistration(
            school_id=school.id, connection_id=connection.id if connection else None, issuer=platform_url,
            client_id=client_id, auth_login_url=platform_url + "/mod/lti/auth.php",
            auth_token_url=platform_url + "/mod/lti/token.php", key_set_url=platform_url + "/mod/lti/certs.php")
        db.add(registration)
        db.flush()
        db.add(LtiDeployment(registration_id=registration.id, deployment_id=deployment_id))
        return school.id, registration.id, connection.id if connection else None


@contextmanager
def lti_on_ws_emulator(database: Database, site: Site | None = None) -> Iterator[LtiEnvironment]:
    """Like :func:`lti_environment`, with the platform mounted on the Web Services emulator
    (``emulator.server.serve_in_thread(site, extensions=[…register…])``): one Moodle for WS and LTI."""
    from credbridge.emulator.lti_platform import register
    from credbridge.emulator.server import serve_in_thread

    site = site or Site.from_recording(FIXTURES / "testdata.json")
    tool_server = make_server("127.0.0.1", 0, _Placeholder(), threaded=True)
    tool_url = f"http://127.0.0.1:{tool_server.server_port}"
    mount = functools.partial(register, tool_base_url=tool_url, private_key=_platform_key())
    try:
        with serve_in_thread(site, extensions=[mount]) as moodle:
            platform: LtiPlatform = moodle.app.extensions["lti_platform"]
            tool = platform.default_tool()
            platform.add_link(COURSE_ID, tool, name="CNC machining simulator (LTI 1.3)")
            school_id, registration_id, connection_id = add_registration(
                database, platform_url=moodle.url, client_id=tool.client_id, deployment_id=tool.deployment_id)
            runtime = tool_runtime(database, tool_url)
            app = create_app(runtime, config={"LTI_COOKIE_SECURE": False})
            start(tool_server, app)
            yield LtiEnvironment(site=site, platform=platform, platform_url=moodle.url, tool_url=tool_url,
                                 app=app, runtime=runtime, tool=tool, school_id=school_id,
                                 registration_id=registration_id, connection_id=connection_id or 0)
    finally:
        if not isinstance(tool_server.app, _Placeholder):
            tool_server.shutdown()
        tool_server.server_close()


@contextmanager
def lti_environment(database: Database, site: Site | None = None) -> Iterator[LtiEnvironment]:
    """The recorded Moodle site behind an emulated LTI platform, and the tool, both on 127.0.0.1."""
    site = site or Site.from_recording(FIXTURES / "testdata.json")
    platform_server = make_server("127.0.0.1", 0, _Placeholder(), threaded=True)
    tool_server = make_server("127.0.0.1", 0, _Placeholder(), threaded=True)
    platform_url = f"http://127.0.0.1:{platform_server.server_port}"
    tool_url = f"http://127.0.0.1:{tool_server.server_port}"
    try:
        platform_app, platform = create_platform_app(site, base_url=platform_url, private_key=_platform_key())
        tool = platform.add_tool(tool_url, custom={"user_idnumber": "$Person.sourcedId"})
        platform.add_link(COURSE_ID, tool, name="CNC machining simulator (LTI 1.3)")  # like platform.json
        school_id, registration_id, connection_id = add_registration(
            database, platform_url=platform_url, client_id=tool.client_id, deployment_id=tool.deployment_id)
        runtime = tool_runtime(database, tool_url)
        app = create_app(runtime, config={"LTI_COOKIE_SECURE": False})
        start(platform_server, platform_app)
        start(tool_server, app)
        yield LtiEnvironment(site=site, platform=platform, platform_url=platform_url, tool_url=tool_url, app=app,
                             runtime=runtime, tool=tool, school_id=school_id, registration_id=registration_id,
                             connection_id=connection_id or 0)
    finally:
        for server in (platform_server, tool_server):
            if not isinstance(server.app, _Placeholder):
                server.shutdown()
            server.server_close()
