"""scheduler lease: one daemon keeps the schedule

Several daemons share one database; each runs the scheduler tick, but only the holder of this
lease queues scheduled work (connection syncs, the nightly reconciliation, retention). The row is
created here so that taking the lease is always a conditional UPDATE, never a racing INSERT.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-10 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import credbridge.connector.store.base

revision = '0003'
down_revision = '0002'
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


def downgrade() -> None:
    op.drop_table('scheduler_lease')
