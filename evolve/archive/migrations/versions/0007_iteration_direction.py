"""the direction a proposal's prompt ended with (prompt variants, chosen by a bandit)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 00:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('iterations', sa.Column('direction', sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column('iterations', 'direction')
