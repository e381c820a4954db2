"""The migrations build the same schema as the models, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, inspect, select

from credbridge.connector.store import migrate
from credbridge.connector.store.base import Base
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import School, SigningKey
from credbridge.connector.store.secrets import Secret


def test_models_and_migrations_do_not_drift(database: Database) -> None:
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_database_is_at_head(database: Database) -> None:
    assert migrate.current_revision(database.engine) == migrate.head_revision(database.url)


def test_same_tables_and_columns_on_both_databases(sqlite_database: Database,
                                                   postgres_database: Database) -> None:
    def shape(db: Database) -> dict[str, list[str]]:
        inspector = inspect(db.engine)
        return {t: sorted(c["name"] for c in inspector.get_columns(t)) for t in inspector.get_table_names()}

    assert shape(sqlite_database) == shape(postgres_database)
    assert set(shape(sqlite_database)) >= set(Base.metadata.tables)


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"])
def test_audit_log_is_append_only_in_the_database(database: Database, statement: str) -> None:
    from sqlalchemy import text

    from credbridge.connector.store.models import AuditEntry

    with database.unit_of_work() as session:
        session.add(AuditEntry(actor="system:test", action="created", subject_type="t", subject_id="1"))
    with pytest.raises(Exception, match="append-only"), database.unit_of_work() as session:
        session.execute(text(statement))
    with database.unit_of_work() as session:
        assert session.query(AuditEntry).one().action == "created"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    from pytest_postgresql.janitor import DatabaseJanitor

    server = request.getfixturevalue("pg_server")
    name = f"credbridge_empty_{os.getpid()}"
    janitor = DatabaseJanitor(user=server.user, host=server.host, port=server.port, dbname=name)
    janitor.init()
    try:
        yield server.url(name)
    finally:
        janitor.drop()


def test_0002_retires_duplicate_current_keys_left_by_the_old_race(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url, "0001")
    database = Database(empty_database_url)
    try:
        with database.unit_of_work() as s:
            # only the columns revision 0001 has (the model may have gained more since)
            school = s.execute(insert(School.__table__).values(slug="s", legal_name="S", country="HR",
                                                                  identifiers={}, qa_status={}, policy={})
                                  ).inserted_primary_key[0]
            for kid, school_id, purpose in [("s/key-1", school, "credential"), ("s/key-2", school, "credential"),
                                            ("lti-a", None, "lti"), ("lti-b", None, "lti")]:
                s.add(SigningKey(school_id=school_id, purpose=purpose, kid=kid, alg="x", private_key=Secret(b"k"),
                                 public_jwk={}))
        migrate.upgrade(empty_database_url)
        with database.unit_of_work() as s:
            rows = {r.kid: r for r in s.scalars(select(SigningKey))}
        assert rows["s/key-2"].retired_at is None and rows["lti-b"].retired_at is None  # newest stays current
        # both older keys are kept: they may have signed credentials (published for ever) or tokens (an hour)
        assert rows["s/key-1"].retired_at is not None and rows["s/key-1"].unpublish_after is None
        assert rows["lti-a"].retired_at is not None and rows["lti-a"].unpublish_after is not None
    finally:
        database.dispose()
