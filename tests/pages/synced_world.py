"""The whole product as an operator sets it up, for the end-to-end browser test.

One emulated Moodle on 127.0.0.1 serves both Web Services and the LTI 1.3 platform (the recorded
Moodle 4.5 site); credbridge's web side runs on ``localhost`` (a different site, so its pages sit in
a cross-site iframe as inside Moodle). Nothing is written into the store directly: the school, the
connection, the registration and the mapping come from the ``credbridge`` command line (click's
CliRunner on the real entry point), the data from a real sync over HTTP, the awards from the real
evaluation and outbox — the path the daemon takes in production.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import requests
from click.testing import CliRunner, Result
from flask import Flask, Response, request
from sqlalchemy import func, select

from credbridge.cli import main
from credbridge.connector.issuing.pipeline import handlers as issuing_handlers
from credbridge.connector.runtime import Runtime
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import WorkItem
from credbridge.connector.sync.daemon import Daemon
from credbridge.connector.sync.worker import SYNC_CONNECTION, SYNC_COURSE
from credbridge.emulator import lti_platform
from credbridge.emulator.dataset import Site
from credbridge.emulator.lti_platform import LtiPlatform, ToolType
from credbridge.emulator.server import DEFAULT_TOKEN, RunningEmulator, serve_in_thread
from tests.lti.support import FIXTURES, TEST_SECRET_KEY, make_server, start, tool_runtime
from tests.pages.conftest import build_app

SCHOOL = "vet-college"
CONNECTION = "moodle"
CLIENT_ID = "credbridge-e2e"
EXAMPLE_MAPPING = Path(str(resources.files("credbridge.mappings") / "examples" / "vet-college.yaml"))


def _embed_page(app: Flask, site: Site) -> None:
    """Moodle's "embed" display of an LTI activity: the course page frames the launch (an emulator
    extension, mounted after the platform)."""
    platform: LtiPlatform = app.extensions["lti_platform"]

    @app.get("/course/embed")
    def course_embed() -> Response:
        course = site.courses[int(request.args["course"])]
        src = platform.launch_url(int(request.args["user"]), course.id)
        body = (f'<!doctype html><html lang="en"><head><title>Course: {course.shortname}</title></head><body>'
                f'<h1>{course.fullname}</h1><iframe id="contentframe" title="credbridge" src="{src}" '
                f'style="width:1240px;height:620px;border:0"></iframe></body></html>')
        return Response(body, mimetype="text/html")


class _NotYet:
    def __call__(self, environ: Any, start_response: Any) -> Any:
        raise RuntimeError("the tool was called before its app was set")


@dataclass
class SyncedWorld:
    moodle: RunningEmulator
    platform: LtiPlatform
    tool: ToolType
    tool_url: str
    runtime: Runtime
    cli_env: dict[str, str]

    @property
    def site(self) -> Site:
        return self.moodle.site

    @property
    def db(self) -> Database:
        return self.runtime.db

    def cli(self, *args: str, input: str | None = None) -> Result:
        """``credbridge ARGS`` as an operator types it; a failure shows the command's own output."""
        result = CliRunner().invoke(main, list(args), input=input, env=self.cli_env, catch_exceptions=False)
        assert result.exit_code == 0, f"credbridge {' '.join(args)} -> {result.exit_code}:\n{result.output}"
        return result

    def set_up_as_operator(self) -> None:
        """School, Web Services connection, LTI registration and the school's mapping file."""
        url = self.moodle.url
        self.cli("schools", "add", "--slug", SCHOOL, "--name", "VET College of Mechanical Engineering",
                 "--country", "HR", "--homepage", "https://vet-college.example", "--identifier", "OIB=12345678903")
        self.cli("connections", "add", CONNECTION, "--school", SCHOOL, "--url", url, input=f"{DEFAULT_TOKEN}\n")
        self.cli("connections", "check", CONNECTION)
        self.cli("lti", "register", "--school", SCHOOL, "--issuer", url, "--client-id", self.tool.client_id,
                 "--deployment-id", self.tool.deployment_id, "--auth-url", f"{url}/mod/lti/auth.php",
                 "--token-url", f"{url}/mod/lti/token.php", "--jwks-url", f"{url}/mod/lti/certs.php",
                 "--name", "Moodle (emulated)")
        self.cli("mappings", "import", str(EXAMPLE_MAPPING), "--school", SCHOOL)

    def sync_and_issue(self) -> None:
        """What the daemon does on its schedule, by hand: sync, evaluate changed learners, send the outbox."""
        self.cli("sync", "--connection", CONNECTION)
        self.cli("issue", "--once", "--school", SCHOOL)

    def course_page(self, user_id: int, course_id: int) -> str:
        """The platform's course page with the tool's launch in an iframe."""
        return f"{self.moodle.url}/course/embed?user={user_id}&course={course_id}"

    def mutate(self, action: str, **args: Any) -> Any:
        """Change Moodle through the emulator's control API, as another process would."""
        answer = requests.post(f"{self.moodle.url}/_emulator/mutate", json={"action": action, "args": args},
                               timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()["result"]

    @contextmanager
    def daemon(self) -> Iterator[Daemon]:
        """The daemon's workers (sync and issuance handlers, no schedule): they pick up what the
        pages ask for, such as the teacher's "sync this course now"."""
        issuing_handlers.register()
        running = Daemon(self.db, self.runtime.settings, workers=1, poll_seconds=0.1, schedule=False)
        running.start()
        try:
            yield running
        finally:
            running.shutdown(timeout=30)

    def wait_for_idle_work(self, timeout: float = 30.0) -> None:
        """Until no sync or evaluation is pending or running (a sync queues one evaluation per learner
        whose evidence changed)."""
        deadline = time.monotonic() + timeout
        kinds = (SYNC_CONNECTION, SYNC_COURSE, issuing_handlers.EVALUATE)
        while True:
            with self.db.unit_of_work() as session:
                busy = session.scalar(select(func.count()).select_from(WorkItem).where(
                    WorkItem.kind.in_(kinds), WorkItem.status.in_(("pending", "running")))) or 0
            if not busy:
                return
            assert time.monotonic() < deadline, f"{busy} work items still pending or running after {timeout} s"
            time.sleep(0.1)


@contextmanager
def synced_world(database: Database) -> Iterator[SyncedWorld]:
    site = Site.from_recording(FIXTURES / "testdata.json")
    tool_server = make_server("127.0.0.1", 0, _NotYet(), threaded=True)
    tool_url = f"http://localhost:{tool_server.server_port}"
    mount = functools.partial(lti_platform.register, tool_base_url=tool_url, client_id=CLIENT_ID)
    cli_env = {"CREDBRIDGE_DATABASE_URL": database.url, "CREDBRIDGE_SECRET_KEY": TEST_SECRET_KEY,
               "CREDBRIDGE_BASE_URL": tool_url, "CREDBRIDGE_CONFIG": "/dev/null", "COLUMNS": "200"}
    try:
        with serve_in_thread(site, extensions=[mount, _embed_page]) as moodle:
            platform: LtiPlatform = moodle.app.extensions["lti_platform"]
            runtime = tool_runtime(database, tool_url)
            # SameSite=None; Secure cookies, as in production (browsers accept them on http://localhost)
            start(tool_server, build_app(runtime, secure_cookies=True))
            yield SyncedWorld(moodle, platform, platform.default_tool(), tool_url, runtime, cli_env)
    finally:
        if not isinstance(tool_server.app, _NotYet):
            tool_server.shutdown()
        tool_server.server_close()
