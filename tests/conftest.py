"""Fixtures shared by every test area.

``database`` runs a test twice, on SQLite and on PostgreSQL, each time on a fresh database built
by the real Alembic migrations. Areas add their own fixtures in their own conftest.py.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_postgresql.janitor import DatabaseJanitor

from credbridge.connector.store import migrate, secrets
from credbridge.connector.store.db import Database
from tests.support.postgres import LocalPostgres, PgServer, configured_server

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"  # vendored copies, see tests/data/SOURCES.md
FIXTURES = DATA / "moodle-4.5"
TEST_SECRET_KEY = "test-secret-key-0123456789abcdef-not-for-production"
_db_counter = itertools.count()


@pytest.fixture(autouse=True, scope="session")
def _secrets_vault() -> None:
    secrets.configure(TEST_SECRET_KEY)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = configured_server()
    if server is not None:
        yield server
        return
    local = LocalPostgres()
    try:
        yield local.start()
    finally:
        local.stop()


@pytest.fixture(scope="session")
def pg_template(pg_server: PgServer) -> str:
    name = f"credbridge_tpl_{os.getpid()}"
    janitor = DatabaseJanitor(user=pg_server.user, host=pg_server.host, port=pg_server.port, dbname=name)
    janitor.drop()
    janitor.init()
    migrate.upgrade(pg_server.url(name))
    return name


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


def _sqlite_database(template: Path, tmp_path: Path) -> Database:
    path = tmp_path / f"credbridge-{next(_db_counter)}.db"
    shutil.copyfile(template, path)
    return Database(f"sqlite:///{path}")


@pytest.fixture
def sqlite_database(sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    db = _sqlite_database(sqlite_template, tmp_path)
    yield db
    db.dispose()


@pytest.fixture
def postgres_database(pg_server: PgServer, pg_template: str) -> Iterator[Database]:
    name = f"credbridge_test_{os.getpid()}_{next(_db_counter)}"
    janitor = DatabaseJanitor(user=pg_server.user, host=pg_server.host, port=pg_server.port, dbname=name,
                              template_dbname=pg_template)
    janitor.init()
    db = Database(pg_server.url(name))
    try:
        yield db
    finally:
        db.dispose()
        janitor.drop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> Database:
    """A fresh, migrated database: the test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_database")
    return request.getfixturevalue("postgres_database")
