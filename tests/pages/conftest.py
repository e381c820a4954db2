"""Fixtures for the page tests: the real app (``create_app`` + ``register_pages``), a seeded store
with two schools, and sessions as a verified launch (or a console login) would leave them."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy import select

from credbridge.connector.awards import actions
from credbridge.connector.awards.catalogue import import_mapping_file
from credbridge.connector.awards.decide import evaluate_learner
from credbridge.connector.issuing.adapters.embedded import EmbeddedAdapter
from credbridge.connector.issuing.pipeline.worker import OutboxWorker, WorkerConfig
from credbridge.connector.passwords import hash_password
from credbridge.connector.runtime import Runtime
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import (
    AdminUser,
    Award,
    Course,
    Enrolment,
    LaunchSession,
    Learner,
    LmsConnection,
    LtiRegistration,
    School,
)
from credbridge.lti.app import create_app
from credbridge.lti.i18n import compile_catalogues
from credbridge.lti.pages import register_pages
from credbridge.lti.sessions import SESSION_COOKIE, _serializer, new_session_id
from tests.awards.conftest import MAPPING, EvidenceBook
from tests.lti.support import tool_runtime
from tests.mappings.helpers import CNC, Facts, cnc_operator_learner

HOSTILE_COURSE = '<script>window.__xss=1</script>CNC "programming" \'101\''
HOSTILE_LEARNER = '<img src=x onerror="window.__xss=2">Ana "Quote" O\'Brien'
ADMIN_PASSWORD = "correct horse battery staple"
NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


@pytest.fixture(scope="session", autouse=True)
def _compiled_catalogues() -> None:
    compile_catalogues(force=True)


@dataclass
class World:
    school_a: int
    school_b: int
    connection_a: int
    course_cnc: int  # Course.id; Moodle id 2 in school A
    course_weld: int  # Moodle id 3 in school A
    learner_hostile: int  # earned TD-BASICS (issued) and CNC-OPERATOR (pending approval)
    learner_plain: int  # enrolled in CNC101, nothing yet
    learner_weld: int  # enrolled only in WELD201
    learner_b: int  # school B
    learner_full: int  # CNC-OPERATOR approved and issued in all three formats
    award_pending: int
    award_issued: int  # TD-BASICS of the hostile learner (VC-JWT only)
    award_full: int
    admin_email: str
    admin_b_email: str
    registration_a: int  # each school's Moodle platform, linked to its connection, as a launch finds it
    registration_b: int


def _course(session: Any, connection_id: int, moodle_id: int, shortname: str, fullname: str) -> Course:
    course = Course(connection_id=connection_id, moodle_id=moodle_id, shortname=shortname, fullname=fullname)
    session.add(course)
    session.flush()
    return course


def _learner(session: Any, school_id: int, name: str, email: str, *courses: Course) -> Learner:
    learner = Learner(school_id=school_id, full_name=name, email=email, locale="hr")
    session.add(learner)
    session.flush()
    for course in courses:
        session.add(Enrolment(course_id=course.id, learner_id=learner.id, roles=["student"]))
    return learner


def seed(db: Database, base_url: str) -> World:
    """Two schools; school A's data is made by the real import → evaluation → embedded issuing."""
    with db.unit_of_work() as s:
        a = School(slug="alpha", legal_name="Tehnička škola Alpha", country="HR", homepage="https://alpha.example.hr",
                   identifiers={"OIB": "12345678903"}, qa_status={}, policy={})
        b = School(slug="beta", legal_name="Srednja šola Beta", country="SI", homepage="https://beta.example.si",
                   qa_status={}, policy={})
        s.add_all([a, b])
        s.flush()
        import_mapping_file(s, a, MAPPING, "admin@alpha.example")
        import_mapping_file(s, b, MAPPING, "admin@beta.example")
        conn_a = LmsConnection(school_id=a.id, name="moodle", base_url="http://127.0.0.1:9", ws_token="t" * 32)
        conn_b = LmsConnection(school_id=b.id, name="moodle", base_url="http://127.0.0.1:9", ws_token="u" * 32)
        s.add_all([conn_a, conn_b])
        s.flush()
        registrations = [LtiRegistration(school_id=school.id, connection_id=conn.id, issuer=f"http://127.0.0.1:9/{slug}",
                                         client_id="moodle", auth_login_url="http://127.0.0.1:9/auth",
                                         auth_token_url="http://127.0.0.1:9/token", key_set_url="http://127.0.0.1:9/keys")
                         for school, conn, slug in ((a, conn_a, "a"), (b, conn_b, "b"))]
        s.add_all(registrations)
        s.flush()
        registration_ids = [r.id for r in registrations]
        cnc = _course(s, conn_a.id, 2, "CNC101", HOSTILE_COURSE)
        weld = _course(s, conn_a.id, 3, "WELD201", "Welding safety")
        cnc_b = _course(s, conn_b.id, 2, "CNC101", "Beta CNC")
        hostile = _learner(s, a.id, HOSTILE_LEARNER, "ana@alpha.example", cnc)
        plain = _learner(s, a.id, "Marko Horvat", "marko@alpha.example", cnc)
        welder = _learner(s, a.id, "Iva Kovač", "iva@alpha.example", weld)
        other = _learner(s, b.id, "Beta Learner", "bl@beta.example", cnc_b)
        full = _learner(s, a.id, "Petra Novak", "petra@alpha.example", cnc)
        for email, school in (("admin@alpha.example", a), ("admin@beta.example", b)):
            s.add(AdminUser(school_id=school.id, email=email, display_name=f"Admin {school.slug}",
                            password_hash=hash_password(ADMIN_PASSWORD)))
        ids = (a.id, b.id, conn_a.id, cnc.id, weld.id, hostile.id, plain.id, welder.id, other.id, full.id)
    book = EvidenceBook()
    book.facts[ids[5]] = cnc_operator_learner()
    book.facts[ids[9]] = cnc_operator_learner()
    with db.unit_of_work() as s:
        for learner_id in (ids[5], ids[9]):
            evaluate_learner(s, s.get(School, ids[0]), learner_id, NOW, sources=book.sources())
        full_award = s.scalars(select(Award).where(Award.learner_id == ids[9],
                                                   Award.template_code == "CNC-OPERATOR")).one()
        actions.approve(s, ids[0], full_award.id, actor="teacher@alpha.example")
    OutboxWorker(db, lambda school, target: EmbeddedAdapter(db, base_url), WorkerConfig(owner="pages-test")).run_once()
    with db.unit_of_work() as s:
        awards = {aw.template_code: aw for aw in s.scalars(select(Award).where(Award.learner_id == ids[5]))}
        pending, issued = awards["CNC-OPERATOR"], awards["TD-BASICS"]
        assert pending.status == "pending_approval" and issued.status == "issued", (pending.status, issued.status)
        assert s.get(Award, full_award.id).status == "issued"
        return World(*ids, award_pending=pending.id, award_issued=issued.id, award_full=full_award.id,
                     admin_email="admin@alpha.example", admin_b_email="admin@beta.example",
                     registration_a=registration_ids[0], registration_b=registration_ids[1])


@dataclass
class Env:
    app: Flask
    runtime: Runtime
    db: Database
    world: World

    def client(self) -> FlaskClient:
        return self.app.test_client()

    def session_for(self, client: FlaskClient, *, roles: list[str], school_id: int | None = None,
                    context_id: str | None = None, learner_id: int | None = None, locale: str | None = None,
                    expires_in: timedelta = timedelta(hours=1), name: str = "Test Person",
                    registration_id: int | None = None) -> str:
        """A LaunchSession row as a verified launch writes it, and its signed cookie in ``client``."""
        session_id = new_session_id()
        school_id = school_id or self.world.school_a
        registration_id = registration_id or (
            self.world.registration_b if school_id == self.world.school_b else self.world.registration_a)
        with self.db.unit_of_work() as s:
            s.add(LaunchSession(id=session_id, school_id=school_id, registration_id=registration_id,
                                context_id=context_id,
                                subject=f"sub-{session_id[:6]}", learner_id=learner_id, roles=roles, name=name,
                                locale=locale, expires_at=datetime.now(UTC) + expires_in))
        with self.app.app_context():
            value = _serializer(self.app).dumps(session_id)
        client.set_cookie(SESSION_COOKIE, value, domain="localhost")
        return session_id

    def teacher(self, context_id: str = "2", **kw: Any) -> FlaskClient:
        client = self.client()
        self.session_for(client, roles=["instructor"], context_id=context_id, **kw)
        return client

    def learner(self, learner_id: int, **kw: Any) -> FlaskClient:
        client = self.client()
        self.session_for(client, roles=["learner"], context_id="2", learner_id=learner_id, **kw)
        return client

    def admin(self, school_id: int | None = None, **kw: Any) -> FlaskClient:
        client = self.client()
        self.session_for(client, roles=["administrator"], school_id=school_id, **kw)
        return client


def evidence_book(world: World) -> EvidenceBook:
    """The learners' evidence as the sync store would hand it to evaluation."""
    book = EvidenceBook()
    book.facts[world.learner_hostile] = cnc_operator_learner()
    book.facts[world.learner_full] = cnc_operator_learner()
    book.facts[world.learner_plain] = [Facts.quiz(3, CNC, 100, t=10, fid="q-plain")]  # CNC-PROG half done
    return book


def build_app(runtime: Runtime, *, secure_cookies: bool = False, book: EvidenceBook | None = None) -> Flask:
    """Secure cookies for browsers (which accept them on http://localhost); werkzeug's test client
    would not send them back over http."""
    app = create_app(runtime, config={"LTI_COOKIE_SECURE": secure_cookies})
    if "teacher" not in app.blueprints:  # until create_app wires the pages itself
        register_pages(app)
    if book is not None:
        app.extensions["credbridge.evaluation_sources"] = book.sources()
    return app


BASE_URL = "http://localhost"


@pytest.fixture(scope="session")
def seeded_template(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, World]:
    """Seed once (import, evaluation and signing take seconds); every test gets its own copy."""
    path = tmp_path_factory.mktemp("pages-seed") / "seeded.db"
    shutil.copyfile(sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    try:
        world = seed(db, BASE_URL)
    finally:
        db.dispose()
    return path, world


@pytest.fixture
def env(seeded_template: tuple[Path, World], tmp_path: Path) -> Iterator[Env]:
    template, world = seeded_template
    path = tmp_path / "pages.db"
    shutil.copyfile(template, path)
    db = Database(f"sqlite:///{path}")
    runtime = tool_runtime(db, BASE_URL)
    try:
        yield Env(build_app(runtime, book=evidence_book(world)), runtime, db, world)
    finally:
        db.dispose()


def csrf_token(client: FlaskClient, path: str) -> str:
    page = client.get(path)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert found, f"no CSRF token on {path} ({page.status_code})"
    return found.group(1)


# --- a real browser (headless Chromium, Debian's binary) for the test_browser* modules ------------

@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from tests.pages.browser_support import CHROMIUM_ARGS, SCREENSHOTS  # it imports this module

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 720}, accept_downloads=True)
    context.set_default_timeout(15000)
    opened = context.new_page()
    refused: list[str] = []
    opened.on("console", lambda m: refused.append(m.text) if "Refused" in m.text or "Security Policy" in m.text
              else None)
    yield opened
    context.close()
    assert not refused, f"the browser refused something under the page's policy: {refused}"
