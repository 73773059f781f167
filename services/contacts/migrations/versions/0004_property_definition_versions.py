"""property_definition_versions: a per-tenant version of the custom field definitions, bumped by trigger

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from crm_db.rls import disable_tenant_rls, enable_tenant_rls

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# A microsecond clock, and at least one more than before: versions only ever grow.
PG_FUNCTION = """
CREATE FUNCTION property_definitions_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    stamp bigint := (extract(epoch from clock_timestamp()) * 1000000)::bigint;
BEGIN
    INSERT INTO property_definition_versions AS v (tenant_id, version)
    VALUES (CASE WHEN TG_OP = 'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END, stamp)
    ON CONFLICT (tenant_id) DO UPDATE SET version = greatest(v.version + 1, excluded.version);
    RETURN NULL;
END $$
"""
SQLITE_STAMP = "CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)"


def _sqlite_trigger(event: str, row: str) -> str:
    return (f"CREATE TRIGGER property_definitions_version_{event.lower()} AFTER {event} ON property_definitions "
            f"BEGIN INSERT INTO property_definition_versions (tenant_id, version) VALUES ({row}.tenant_id, {SQLITE_STAMP}) "
            f"ON CONFLICT (tenant_id) DO UPDATE SET version = max(version + 1, excluded.version); END")


def upgrade() -> None:
    op.create_table('property_definition_versions',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id')
    )
    enable_tenant_rls('property_definition_versions')
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute("CREATE TRIGGER property_definitions_version AFTER INSERT OR UPDATE OR DELETE ON property_definitions "
                   "FOR EACH ROW EXECUTE FUNCTION property_definitions_bump_version()")
    else:
        for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
            op.execute(_sqlite_trigger(event, row))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS property_definitions_version ON property_definitions")
        op.execute("DROP FUNCTION IF EXISTS property_definitions_bump_version()")
    else:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS property_definitions_version_{event}")
    disable_tenant_rls('property_definition_versions')
    op.drop_table('property_definition_versions')
