"""delivery queue: (tenant_id, due_at, id) index for the fair claim

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # delivery_queue has no RLS (see models.py): nothing to add for policies.
    with op.batch_alter_table('delivery_queue', schema=None) as batch_op:
        batch_op.create_index('delivery_queue_tenant_due_idx', ['tenant_id', 'due_at', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('delivery_queue', schema=None) as batch_op:
        batch_op.drop_index('delivery_queue_tenant_due_idx')
