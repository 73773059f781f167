"""pipeline settings: whether losing a deal needs a lost reason

Revision ID: 0008
Revises: 0007
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('pipeline_settings') as batch_op:
        # existing tenants keep today's rule: a lost deal needs a reason
        batch_op.add_column(sa.Column('lost_reason_required', sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table('pipeline_settings') as batch_op:
        batch_op.drop_column('lost_reason_required')
