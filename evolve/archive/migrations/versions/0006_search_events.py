"""search events: island restarts after stagnation and the advice written into later prompts

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 00:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'search_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('run_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('iteration', sa.Integer(), nullable=False),
        sa.Column('island', sa.Integer(), nullable=True),
        sa.Column('program_id', sa.Integer(), nullable=True),
        sa.Column('first_iteration', sa.Integer(), nullable=True),
        sa.Column('last_iteration', sa.Integer(), nullable=True),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['run_id'], ['runs.id']),
        sa.ForeignKeyConstraint(['program_id'], ['programs.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_search_events_run_id', 'search_events', ['run_id'])


def downgrade() -> None:
    op.drop_index('ix_search_events_run_id', table_name='search_events')
    op.drop_table('search_events')
