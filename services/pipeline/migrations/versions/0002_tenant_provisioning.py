"""tenant_provisioning: the default pipeline is provisioned exactly once per tenant

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from crm_db.rls import disable_tenant_rls, enable_tenant_rls

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('tenant_provisioning',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('provisioned_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id')
    )
    # Tenants that already have pipelines were provisioned (by the consumer or their first deal).
    op.execute("insert into tenant_provisioning (tenant_id, provisioned_at) "
               "select tenant_id, min(created_at) from pipelines group by tenant_id")
    enable_tenant_rls('tenant_provisioning')


def downgrade() -> None:
    disable_tenant_rls('tenant_provisioning')
    op.drop_table('tenant_provisioning')
