"""The migrations build the same schema as the models, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from credbridge.connector.store import migrate
from credbridge.connector.store.base import Base
from credbridge.connector.store.db import Database


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
