"""job_schedule: periodic per-tenant housekeeping (job file retention, score decay)

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No RLS, like job_queue (see contacts.models.schedule_table): ids and due times only.
    op.create_table('job_schedule',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('task', sa.String(length=32), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'task')
    )
    with op.batch_alter_table('job_schedule', schema=None) as batch_op:
        batch_op.create_index('job_schedule_due_idx', ['due_at'], unique=False)


def downgrade() -> None:
    op.drop_table('job_schedule')
