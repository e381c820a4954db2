"""one current signing key per school and purpose

Before this, two workers signing a school's first credential at the same moment on PostgreSQL could
each create a key (the second one named ``-2``), leaving two "current" keys. Both are real keys that
may have signed credentials, so the older ones are retired here, not deleted: a retired credential
key stays published in the school's DID document, and a retired tool key stays in the JWKS for the
usual hour of grace.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 11:00:00
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from credbridge.connector.store.base import UTCDateTime

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

SCHOOL_KEYS = "retired_at IS NULL AND school_id IS NOT NULL"
TOOL_KEY = "retired_at IS NULL AND school_id IS NULL"


def _retire_all_but_newest_current_key() -> None:
    keys = sa.table("signing_key", sa.column("id", sa.Integer), sa.column("school_id", sa.Integer),
                    sa.column("purpose", sa.String), sa.column("retired_at", UTCDateTime()),
                    sa.column("unpublish_after", UTCDateTime()))
    connection = op.get_bind()
    current = connection.execute(
        sa.select(keys.c.id, keys.c.school_id, keys.c.purpose)
        .where(keys.c.retired_at.is_(None)).order_by(keys.c.id.desc())
    ).all()
    seen: set[tuple[int | None, str]] = set()
    now = datetime.now(UTC)
    for key_id, school_id, purpose in current:
        if (school_id, purpose) not in seen:
            seen.add((school_id, purpose))
            continue
        grace = None if school_id is not None else now + timedelta(hours=1)
        connection.execute(sa.update(keys).where(keys.c.id == key_id)
                           .values(retired_at=now, unpublish_after=grace))


def upgrade() -> None:
    _retire_all_but_newest_current_key()
    with op.batch_alter_table('signing_key', schema=None) as batch_op:
        batch_op.create_index('uq_signing_key_current_school', ['school_id', 'purpose'], unique=True,
                              sqlite_where=sa.text(SCHOOL_KEYS), postgresql_where=sa.text(SCHOOL_KEYS))
        batch_op.create_index('uq_signing_key_current_tool', ['purpose'], unique=True,
                              sqlite_where=sa.text(TOOL_KEY), postgresql_where=sa.text(TOOL_KEY))


def downgrade() -> None:
    with op.batch_alter_table('signing_key', schema=None) as batch_op:
        batch_op.drop_index('uq_signing_key_current_tool')
        batch_op.drop_index('uq_signing_key_current_school')
