"""operations: the scheduler lease, and learners erased on request

Several daemons share one database; each runs the scheduler tick, but only the holder of the
scheduler lease queues scheduled work (connection syncs, the nightly reconciliation, retention). The
row is created here so that taking the lease is always a conditional UPDATE, never a racing INSERT.

``learner.erased_at`` marks a learner whose personal data was erased on request
(``credbridge learners erase``): the row stays, pseudonymised, because their awards and issued
credentials (still valid for the holder, still revocable) refer to it; evaluation skips it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-10 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import credbridge.connector.store.base

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        'scheduler_lease',
        sa.Column('name', sa.String(length=50), nullable=False),
        sa.Column('owner', sa.String(length=200), nullable=True),
        sa.Column('expires_at', credbridge.connector.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('acquired_at', credbridge.connector.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('term', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_scheduler_lease')),
    )
    op.bulk_insert(table, [{'name': 'scheduler', 'owner': None, 'expires_at': None, 'acquired_at': None,
                            'term': 0}])
    with op.batch_alter_table('learner', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erased_at', credbridge.connector.store.base.UTCDateTime(timezone=True),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('learner', schema=None) as batch_op:
        batch_op.drop_column('erased_at')
    op.drop_table('scheduler_lease')
