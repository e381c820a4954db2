"""public revocation reason; the school's identity on its pages and certificates

A revocation now keeps two things apart: the public reason, a code from a short list that the
verification page shows translated (``credential.revocation_code``), and the revoker's own words,
which stay private (``credential.revocation_reason``, shown to the school only). Credentials revoked
before this have no code: their free text is no longer published.

The school gains what its pages and certificates show besides its legal name: a logo (served by the
tool itself, so the pages' content security policy holds), a brand colour, the place written on
certificates and the person who signs them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-10 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('credential') as batch:
        batch.add_column(sa.Column('revocation_code', sa.String(length=40), nullable=True))
    with op.batch_alter_table('school') as batch:
        batch.add_column(sa.Column('logo', sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column('logo_type', sa.String(length=50), nullable=True))
        batch.add_column(sa.Column('brand_colour', sa.String(length=7), nullable=True))
        batch.add_column(sa.Column('locality', sa.String(length=120), nullable=True))
        batch.add_column(sa.Column('signatory_name', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('signatory_role', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('school') as batch:
        for column in ('signatory_role', 'signatory_name', 'locality', 'brand_colour', 'logo_type', 'logo'):
            batch.drop_column(column)
    with op.batch_alter_table('credential') as batch:
        batch.drop_column('revocation_code')
