"""the state of an enrolment: active, suspended (or ended) in Moodle, or left

``enrolment.active`` could not tell a learner whose enrolment a teacher suspended (still enrolled in
Moodle, shown to teachers with that state, issued by school policy) from one who left the course.
Rows already inactive become ``left``: what was known of them before.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("enrolment") as batch:
        batch.add_column(sa.Column("state", sa.String(length=20), nullable=False, server_default="active"))
    op.execute("UPDATE enrolment SET state = 'left' WHERE active = false")


def downgrade() -> None:
    with op.batch_alter_table("enrolment") as batch:
        batch.drop_column("state")
