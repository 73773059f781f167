"""Row-level security for tenant tables, used from alembic migrations (PostgreSQL only)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import op

TENANT_EXPR = "nullif(current_setting('app.tenant_id', true), '')::uuid"


def enable_tenant_rls(*tables: str) -> None:
    """FORCE RLS so even the owner is filtered; rows are visible only to the tenant in app.tenant_id."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in tables:
        op.execute(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')
        op.execute(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY')
        op.execute(
            f'CREATE POLICY tenant_isolation ON "{table}" '
            f"USING (tenant_id = {TENANT_EXPR}) WITH CHECK (tenant_id = {TENANT_EXPR})"
        )


def disable_tenant_rls(*tables: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in tables:
        op.execute(f'DROP POLICY IF EXISTS tenant_isolation ON "{table}"')
        op.execute(f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY')
        op.execute(f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY')


def lift_forced_rls(*tables: str) -> None:
    """For a data migration across all tenants: FORCE'd RLS filters the owner too, and no tenant
    is set while migrating, so back-fills and copies would see no rows. force_rls() ends it."""
    if op.get_bind().dialect.name == "postgresql":
        for table in tables:
            op.execute(f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY')


def force_rls(*tables: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in tables:
            op.execute(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY')


@contextmanager
def rls_lifted(*tables: str) -> Iterator[None]:
    """lift_forced_rls for the statements inside, forced again after them."""
    lift_forced_rls(*tables)
    try:
        yield
    finally:
        force_rls(*tables)
