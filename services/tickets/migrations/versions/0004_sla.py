"""sla tables: business hours, SLA policies, per-ticket SLA clock state

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from crm_db.rls import disable_tenant_rls, enable_tenant_rls

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def _record() -> list[sa.Column]:
    return [sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
            sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
            sa.Column('version', sa.Integer(), nullable=False)]


def upgrade() -> None:
    op.create_table('business_hours',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('frames', JSON, nullable=False),
    sa.Column('holidays', JSON, nullable=False),
    sa.Column('holiday_feed_url', sa.String(length=2000), nullable=True),
    sa.Column('feed_holidays', JSON, nullable=False),
    sa.Column('feed_refreshed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('feed_error', sa.Text(), nullable=True),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    *_record(),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    op.create_index('business_hours_tenant_name_idx', 'business_hours', ['tenant_id', 'name', 'id'], unique=False)
    op.create_table('sla_policies',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('condition', sa.Text(), nullable=True),
    sa.Column('business_hours_id', sa.Uuid(), nullable=True),
    sa.Column('first_response_minutes', sa.Integer(), nullable=True),
    sa.Column('next_response_minutes', sa.Integer(), nullable=True),
    sa.Column('resolution_minutes', sa.Integer(), nullable=True),
    sa.Column('warning_threshold', sa.SmallInteger(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    *_record(),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    op.create_index('sla_policies_tenant_position_idx', 'sla_policies', ['tenant_id', 'position', 'id'], unique=False)
    op.create_table('ticket_sla',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('ticket_id', sa.Uuid(), nullable=False),
    sa.Column('policy_id', sa.Uuid(), nullable=True),
    sa.Column('anchors', JSON, nullable=False),
    sa.Column('targets', JSON, nullable=False),
    sa.Column('fired', JSON, nullable=False),
    sa.Column('closed', sa.Boolean(), nullable=False),
    *_record(),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    op.create_index('ticket_sla_tenant_ticket_key', 'ticket_sla', ['tenant_id', 'ticket_id'], unique=True)
    op.create_index('ticket_sla_tenant_policy_idx', 'ticket_sla', ['tenant_id', 'policy_id', 'ticket_id'], unique=False)
    enable_tenant_rls('business_hours', 'sla_policies', 'ticket_sla')


def downgrade() -> None:
    disable_tenant_rls('business_hours', 'sla_policies', 'ticket_sla')
    op.drop_table('ticket_sla')
    op.drop_table('sla_policies')
    op.drop_table('business_hours')
