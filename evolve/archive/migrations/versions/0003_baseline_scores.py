"""baseline scores per run

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 12:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('baseline_scores',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('set_name', sa.String(length=50), nullable=False),
    sa.Column('evaluator_version', sa.String(length=50), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('combined_score', sa.Float(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id', 'name', 'set_name', 'evaluator_version', name='uq_baseline_score_key')
    )
    op.create_index(op.f('ix_baseline_scores_run_id'), 'baseline_scores', ['run_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_baseline_scores_run_id'), table_name='baseline_scores')
    op.drop_table('baseline_scores')
