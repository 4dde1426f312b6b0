"""program origin, normalised hash, behaviour fingerprint, tuned params; request seeds

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 16:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    from evolve.archive.codehash import normalised_hash

    op.add_column('programs', sa.Column('norm_hash', sa.String(length=64), nullable=True))
    op.add_column('programs', sa.Column('edit_kind', sa.String(length=20), nullable=True))
    op.add_column('programs', sa.Column('label', sa.String(length=200), nullable=True))
    op.add_column('programs', sa.Column('same_as', sa.Integer(), nullable=True))
    op.add_column('programs', sa.Column('fingerprint', sa.String(length=64), nullable=True))
    op.add_column('programs', sa.Column('params', sa.JSON(), nullable=True))
    op.add_column('llm_calls', sa.Column('seed', sa.Integer(), nullable=True))
    if op.get_bind().dialect.name != 'sqlite':  # SQLite cannot add a constraint to a table
        op.create_foreign_key('fk_programs_same_as', 'programs', 'programs', ['same_as'], ['id'])
    op.create_index('ix_programs_run_norm', 'programs', ['run_id', 'norm_hash'], unique=False)
    bind = op.get_bind()
    programs = sa.table('programs', sa.column('id', sa.Integer), sa.column('code', sa.Text),
                        sa.column('norm_hash', sa.String), sa.column('generation', sa.Integer),
                        sa.column('edit_kind', sa.String), sa.column('parent_id', sa.Integer))
    rows = bind.execute(sa.select(programs.c.id, programs.c.code, programs.c.parent_id)).all()
    for pid, code, parent in rows:
        bind.execute(programs.update().where(programs.c.id == pid).values(
            norm_hash=normalised_hash(code), edit_kind=None if parent is not None else 'seed'))
    iterations = sa.table('iterations', sa.column('child_id', sa.Integer),
                          sa.column('edit_kind', sa.String), sa.column('outcome', sa.String))
    kinds = bind.execute(sa.select(iterations.c.child_id, iterations.c.edit_kind)
                         .where(iterations.c.outcome == 'child')).all()
    for child, kind in kinds:
        bind.execute(programs.update().where(programs.c.id == child).values(edit_kind=kind))


def downgrade() -> None:
    op.drop_index('ix_programs_run_norm', table_name='programs')
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_constraint('fk_programs_same_as', 'programs', type_='foreignkey')
    for column in ('params', 'fingerprint', 'same_as', 'label', 'edit_kind', 'norm_hash'):
        op.drop_column('programs', column)
    op.drop_column('llm_calls', 'seed')
