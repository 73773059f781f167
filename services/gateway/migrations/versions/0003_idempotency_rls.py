"""row-level security on the gateway's idempotency keys (anonymous claims are the all-zero tenant)

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

from crm_db.rls import disable_tenant_rls, enable_tenant_rls

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Stored answers hold tenants' data (sealed or not): like every service's idempotency table,
    # rows are visible to their own tenant only. crm_http.idempotency runs as the row's tenant.
    enable_tenant_rls('idempotency_keys')


def downgrade() -> None:
    disable_tenant_rls('idempotency_keys')
