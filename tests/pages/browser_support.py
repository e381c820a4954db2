"""A real browser against real servers: the emulated Moodle platform on 127.0.0.1 and the tool on
``localhost`` (a different site, so the tool runs in a cross-site iframe as it does inside Moodle).

The store is seeded the way sync + evaluation would leave it (the recorded site's CNC101 course, its
learners linked to their Moodle ids, awards decided by the real evaluation, one issued by the real
embedded signer); the launches themselves are real LTI 1.3 launches through the platform.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from credbridge.connector.awards.catalogue import import_mapping_file
from credbridge.connector.awards.decide import evaluate_learner
from credbridge.connector.issuing.adapters.embedded import EmbeddedAdapter
from credbridge.connector.issuing.pipeline.worker import OutboxWorker, WorkerConfig
from credbridge.connector.passwords import hash_password
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import (
    AdminUser,
    Award,
    Course,
    Enrolment,
    Learner,
    LearnerIdentity,
    School,
)
from credbridge.emulator.dataset import Site
from credbridge.emulator.lti_platform import LtiPlatform, create_platform_app
from tests.awards.conftest import MAPPING, EvidenceBook
from tests.lti.support import COURSE_ID, FIXTURES, LEARNER_ID, OTHER_LEARNER_ID, add_registration, tool_runtime
from tests.mappings.helpers import cnc_operator_learner
from tests.pages.conftest import ADMIN_PASSWORD, HOSTILE_COURSE, HOSTILE_LEARNER, NOW, build_app

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--host-resolver-rules=MAP localhost 127.0.0.1"]


@dataclass
class BrowserWorld:
    platform: LtiPlatform
    platform_url: str
    tool_url: str
    db: Database
    school_id: int
    award_pending: int
    award_issued: int
    admin_email: str
    book: EvidenceBook | None = None  # the evidence the tool's evaluation reads (tests may add to it)

    def course_page(self, user_id: int, course_id: int = COURSE_ID) -> str:
        """The platform's course page with the tool's launch in an iframe, as Moodle shows it."""
        return f"{self.platform_url}/course/embed?user={user_id}&course={course_id}"

    def moodle_view_page(self, user_id: int, course_id: int = COURSE_ID, *, origin: str | None = None) -> str:
        """Moodle's activity page (view.php) framing the launch, with the frame-resize snippet trusting
        ``origin`` (the tool's own by default)."""
        extra = f"&origin={origin}" if origin else ""
        return f"{self.platform_url}/mod/lti/view.php?user={user_id}&course={course_id}{extra}"

    def issue_due(self) -> int:
        """What the daemon's issuing job does on its next tick."""
        worker = OutboxWorker(self.db, lambda school, target: EmbeddedAdapter(self.db, self.tool_url),
                              WorkerConfig(owner="browser-test"))
        return worker.run_once().sent


#: the snippet a Moodle administrator pastes into Additional HTML (README, "Connecting a real Moodle")
FRAME_RESIZE_SNIPPET = REPO / "deploy" / "moodle" / "additional-html-frame-resize.html"
# Moodle 4.5's mod/lti/view.php sizes its frame with YUI: on load and on every window resize, to the
# window's height below the frame's top, minus 15 px. The same arithmetic without YUI (not shipped here).
MOODLE_VIEW_SIZING = """<script>(function () {
  var frame = document.getElementById("contentframe"), padding = 15, lastHeight;
  function resize() {
    var viewportHeight = window.innerHeight, docHeight = document.documentElement.scrollHeight;
    if (lastHeight !== Math.min(docHeight, viewportHeight)) {
      frame.style.height = (viewportHeight - frame.getBoundingClientRect().top - window.scrollY - padding) + "px";
      lastHeight = Math.min(docHeight, viewportHeight);
    }
  }
  resize();
  window.addEventListener("resize", resize);
})();</script>"""


class _EmbeddingPlatform:
    """The emulated platform plus pages that frame a launch: a plain "embed" page, and a copy of what
    Moodle 4.5's mod/lti/view.php sends (its 600px frame, its window-high sizing script) with the
    Additional HTML snippet credbridge ships for the tool's origin."""

    def __init__(self, app: Any, platform: LtiPlatform, tool_url: str) -> None:
        self.app, self.platform, self.tool_url = app, platform, tool_url

    def __call__(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        if request.path == "/course/embed":
            src = self.platform.launch_url(int(request.args["user"]), int(request.args["course"]))
            body = (f'<!doctype html><html lang="en"><head><title>Course: CNC101</title></head><body>'
                    f'<h1>Moodle course page</h1><iframe id="contentframe" title="credbridge" src="{src}" '
                    f'style="width:1240px;height:620px;border:0" allow="clipboard-write"></iframe></body></html>')
            return Response(body, mimetype="text/html")(environ, start_response)
        if request.path == "/mod/lti/view.php":
            src = self.platform.launch_url(int(request.args["user"]), int(request.args["course"]))
            origin = request.args.get("origin", self.tool_url)
            snippet = FRAME_RESIZE_SNIPPET.read_text(encoding="utf-8").replace(
                '"https://credbridge.school.example"', f'"{origin}"')
            body = (f'<!doctype html><html lang="en"><head><title>CNC101: credbridge</title></head><body>'
                    f'<h2>credbridge</h2><iframe id="contentframe" height="600px" width="100%" src="{src}" '
                    f'allowfullscreen="1"></iframe>{MOODLE_VIEW_SIZING}<footer>Moodle footer</footer>'
                    f'{snippet}</body></html>')
            return Response(body, mimetype="text/html")(environ, start_response)
        return self.app(environ, start_response)


def _seed(db: Database, site: Site, school_id: int, connection_id: int,
          tool_url: str) -> tuple[int, int, str, EvidenceBook]:
    with db.unit_of_work() as s:
        school = s.get(School, school_id)
        import_mapping_file(s, school, MAPPING, "admin@vet.example")
        moodle = site.courses[COURSE_ID]
        course = Course(connection_id=connection_id, moodle_id=COURSE_ID, shortname=moodle.shortname,
                        fullname=HOSTILE_COURSE)
        s.add(course)
        s.flush()
        learners = {}
        for user_id, name in ((LEARNER_ID, None), (OTHER_LEARNER_ID, HOSTILE_LEARNER)):
            user = site.users[user_id]
            learner = Learner(school_id=school_id, full_name=name or f"{user.firstname} {user.lastname}",
                              given_name=user.firstname, family_name=user.lastname, email=user.email,
                              idnumber=user.idnumber, locale="en")
            s.add(learner)
            s.flush()
            s.add(LearnerIdentity(learner_id=learner.id, connection_id=connection_id, external_id=str(user_id)))
            s.add(Enrolment(course_id=course.id, learner_id=learner.id, roles=["student"]))
            learners[user_id] = learner.id
        s.add(AdminUser(school_id=school_id, email="admin@vet.example", display_name="School admin",
                        password_hash=hash_password(ADMIN_PASSWORD)))
    book = EvidenceBook()
    book.facts[learners[LEARNER_ID]] = cnc_operator_learner()
    with db.unit_of_work() as s:
        evaluate_learner(s, s.get(School, school_id), learners[LEARNER_ID], NOW, sources=book.sources())
    OutboxWorker(db, lambda school, target: EmbeddedAdapter(db, tool_url), WorkerConfig(owner="seed")).run_once()
    with db.unit_of_work() as s:
        awards = {a.template_code: a.id for a in s.scalars(select(Award))}
    return awards["CNC-OPERATOR"], awards["TD-BASICS"], "admin@vet.example", book


@contextmanager
def browser_world(database: Database) -> Iterator[BrowserWorld]:
    site = Site.from_recording(FIXTURES / "testdata.json")
    platform_server = make_server("127.0.0.1", 0, None, threaded=True)
    tool_server = make_server("127.0.0.1", 0, None, threaded=True)
    platform_url = f"http://127.0.0.1:{platform_server.server_port}"
    tool_url = f"http://localhost:{tool_server.server_port}"
    threads = []
    try:
        platform_app, platform = create_platform_app(site, base_url=platform_url)
        tool = platform.add_tool(tool_url, custom={"user_idnumber": "$Person.sourcedId"})
        school_id, _registration_id, connection_id = add_registration(
            database, platform_url=platform_url, client_id=tool.client_id, deployment_id=tool.deployment_id)
        pending, issued, admin_email, book = _seed(database, site, school_id, connection_id or 0, tool_url)
        # SameSite=None cookies, as in production
        app = build_app(tool_runtime(database, tool_url), secure_cookies=True, book=book)
        embedding = _EmbeddingPlatform(platform_app, platform, tool_url)
        for server, wsgi in ((platform_server, embedding), (tool_server, app)):
            server.app = wsgi
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            thread.start()
            threads.append(server)
        yield BrowserWorld(platform, platform_url, tool_url, database, school_id, pending, issued, admin_email, book)
    finally:
        for server in threads:
            server.shutdown()
        platform_server.server_close()
        tool_server.server_close()
