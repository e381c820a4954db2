"""The fault campaign: bounded for CI by default, the long on-demand campaign with ``--campaign``.

    .venv/bin/python -m pytest tests/faults -q                 # CI: a small site, a few kills per scenario
    .venv/bin/python -m pytest tests/faults -q --campaign      # 40 courses x 25 learners, 90 kills per scenario
    .venv/bin/python -m pytest tests/faults -q --campaign --kills 20 --seed 7   # anything in between
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_postgresql.janitor import DatabaseJanitor

from credbridge.connector.store.db import Database
from tests.faults.world import Size


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("credbridge fault campaign")
    group.addoption("--campaign", action="store_true",
                    help="the long fault campaign: 40 x 25 site, 90 kills per scenario (tens of minutes)")
    group.addoption("--kills", type=int, default=None, help="kills per scenario (default 6, or 90 with --campaign)")
    group.addoption("--seed", type=int, default=None, help="campaign seed (default 20261209)")
    group.addoption("--lease-seconds", type=int, default=3,
                    help="the daemons' CREDBRIDGE_LEASE_SECONDS (default 3, so that a kill costs seconds)")


@dataclass(frozen=True)
class Plan:
    size: Size
    kills: int
    seed: int
    patience: float  # seconds a kill waits for its phase before it lands anywhere
    rest_timeout: float  # seconds the daemons get to finish after the last kill
    hang: bool  # one Moodle call hangs longer than the client's 30 s timeout
    lease_seconds: int = 3

    @property
    def campaign(self) -> bool:
        return self.size.courses >= 40


@pytest.fixture(scope="session")
def plan(request: pytest.FixtureRequest) -> Plan:
    campaign = request.config.getoption("--campaign")
    kills = request.config.getoption("--kills")
    seed = request.config.getoption("--seed") or 20261209
    lease = request.config.getoption("--lease-seconds")
    if campaign:
        return Plan(Size(40, 25), 90 if kills is None else kills, seed, patience=60, rest_timeout=1800, hang=True,
                    lease_seconds=lease)
    return Plan(Size(8, 12), 8 if kills is None else kills, seed, patience=20, rest_timeout=240, hang=False,
                lease_seconds=lease)


@pytest.fixture
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str, str], Database]]:
    """Makes empty migrated databases of either kind (a run needs a clean one and a faulted one)."""
    made: list[tuple[Database, Callable[[], None]]] = []

    def make(kind: str, name: str) -> Database:
        if kind == "sqlite":
            template = request.getfixturevalue("sqlite_template")
            path = tmp_path / f"{name}.db"
            shutil.copyfile(template, path)
            db = Database(f"sqlite:///{path}")
            made.append((db, lambda: None))
            return db
        server = request.getfixturevalue("pg_server")
        dbname = f"credbridge_faults_{os.getpid()}_{name}"
        janitor = DatabaseJanitor(user=server.user, host=server.host, port=server.port, dbname=dbname,
                                  template_dbname=request.getfixturevalue("pg_template"))
        janitor.init()
        db = Database(server.url(dbname))
        made.append((db, janitor.drop))
        return db

    yield make
    for db, drop in made:
        db.dispose()
        drop()
