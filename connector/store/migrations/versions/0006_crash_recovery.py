"""crash recovery: crashes counted apart from failures, and status-list entries reserved per delivery

``work_item.crashes`` and ``outbox_item.crashes`` count runs whose worker died or lost its lease
mid-way; before this a crash counted as a failed attempt, so five daemon restarts retired a
connection's sync for good. ``outbox_item.status_list_id`` / ``status_index`` hold the status-list
entry reserved for an embedded delivery before it is signed, so a retry after a crash reuses it
(no gaps in the list) and the list is locked only for the reservation, not while documents are signed.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-09 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('work_item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('crashes', sa.Integer(), server_default='0', nullable=False))
    with op.batch_alter_table('outbox_item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('crashes', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('status_list_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('status_index', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_outbox_item_status_list_id_status_list'), 'status_list',
                                    ['status_list_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('outbox_item', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_outbox_item_status_list_id_status_list'), type_='foreignkey')
        batch_op.drop_column('status_index')
        batch_op.drop_column('status_list_id')
        batch_op.drop_column('crashes')
    with op.batch_alter_table('work_item', schema=None) as batch_op:
        batch_op.drop_column('crashes')
