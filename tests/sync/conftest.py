"""Sync tests run against the emulator over real HTTP on 127.0.0.1, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from credbridge.connector.moodle.client import MoodleClient
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import Evidence, LearnerIdentity, LmsConnection, School
from credbridge.connector.sync import runner
from credbridge.connector.sync.strategy import SyncOptions, SyncReport
from credbridge.connector.sync.worker import _handlers
from credbridge.emulator.dataset import Site
from credbridge.emulator.server import DEFAULT_TOKEN as TOKEN
from credbridge.emulator.server import RunningEmulator, serve_in_thread
from tests.conftest import FIXTURES

KEY_FIELDS = {"course_completion": ("completed",), "activity_completion": ("state",), "grade_item": ("raw",),
              "assignment_grade": ("raw",), "quiz_attempt": ("state", "raw"), "competency": ("proficiency",)}


@pytest.fixture
def site() -> Site:
    return Site.from_recording(FIXTURES / "testdata.json")


@pytest.fixture
def emulator(site: Site) -> Iterator[RunningEmulator]:
    with serve_in_thread(site) as running:
        yield running


@dataclass
class Harness:
    db: Database
    emulator: RunningEmulator
    connection_id: int
    client: MoodleClient

    def sync(self, **options: Any) -> SyncReport:
        return runner.sync_connection(self.db, self.connection_id, SyncOptions(**options), client=self.client)

    def snapshot(self, *, current_only: bool = True) -> set[tuple[Any, ...]]:
        """Current evidence as (moodle userid, kind, source_key, key payload values, withdrawn)."""
        with self.db.unit_of_work() as session:
            users = {i.learner_id: int(i.external_id) for i in session.scalars(select(LearnerIdentity))}
            rows = session.scalars(select(Evidence).where(Evidence.is_current.is_(True))).all()
            return {(users[r.learner_id], r.kind, r.source_key,
                     tuple(r.payload.get(k) for k in KEY_FIELDS[r.kind]), r.withdrawn) for r in rows}


def make_connection(db: Database, url: str, name: str = "moodle") -> int:
    with db.unit_of_work() as session:
        school = session.scalar(select(School).where(School.slug == "vet"))
        if school is None:
            school = School(slug="vet", legal_name="VET College Example", country="FI")
            session.add(school)
            session.flush()
        conn = LmsConnection(school_id=school.id, name=name, base_url=url, ws_token=TOKEN)
        session.add(conn)
        session.flush()
        return conn.id


def _harness(db: Database, emulator: RunningEmulator) -> Iterator[Harness]:
    connection_id = make_connection(db, emulator.url)
    client = MoodleClient(emulator.url, TOKEN, rate_per_second=None, max_concurrency=1)
    yield Harness(db, emulator, connection_id, client)
    client.close()


@pytest.fixture
def harness(sqlite_database: Database, emulator: RunningEmulator) -> Iterator[Harness]:
    """On SQLite only: the strategy does not depend on the database."""
    yield from _harness(sqlite_database, emulator)


@pytest.fixture
def harness_any(database: Database, emulator: RunningEmulator) -> Iterator[Harness]:
    """On SQLite and PostgreSQL: for what the database itself takes part in (versions, JSON, upserts)."""
    yield from _harness(database, emulator)


@pytest.fixture
def handlers() -> Iterator[dict[str, Any]]:
    """The work-item handler registry, restored after a test registers its own."""
    saved = dict(_handlers)
    yield _handlers
    _handlers.clear()
    _handlers.update(saved)
