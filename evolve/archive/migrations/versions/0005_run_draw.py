"""the draw of a run's generated held-out sets (NULL: the public draw, runs made before it)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 21:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('runs', sa.Column('draw', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column('runs', 'draw')
