"""routing tables: teams, team members, routing rules

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from crm_db.rls import disable_tenant_rls, enable_tenant_rls

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
TABLES = ('teams', 'team_members', 'routing_rules')


def upgrade() -> None:
    op.create_table('teams',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('lead_id', sa.Uuid(), nullable=True),
    sa.Column('assignment_mode', sa.String(length=20), nullable=False),
    sa.Column('escalate_on_sla_warning', sa.Boolean(), nullable=False),
    sa.Column('sla_escalation', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("assignment_mode in ('manual', 'round_robin', 'least_open')", name='teams_assignment_mode_check'),
    sa.CheckConstraint("sla_escalation in ('notify', 'reassign')", name='teams_sla_escalation_check'),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    op.create_index('teams_tenant_created_idx', 'teams', ['tenant_id', 'created_at', 'id'], unique=False)
    op.create_index('teams_tenant_name_idx', 'teams', ['tenant_id', 'name', 'id'], unique=False)
    op.create_table('team_members',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('team_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=True),
    sa.Column('available', sa.Boolean(), nullable=False),
    sa.Column('open_count', sa.Integer(), nullable=False),
    sa.Column('last_assigned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint('capacity is null or capacity >= 0', name='team_members_capacity_check'),
    sa.ForeignKeyConstraint(['tenant_id', 'team_id'], ['teams.tenant_id', 'teams.id'], name='team_members_team_fkey',
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    op.create_index('team_members_tenant_team_user_key', 'team_members', ['tenant_id', 'team_id', 'user_id'], unique=True)
    op.create_index('team_members_tenant_user_idx', 'team_members', ['tenant_id', 'user_id'], unique=False)
    op.create_table('routing_rules',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('condition', sa.Text(), nullable=True),
    sa.Column('team_id', sa.Uuid(), nullable=True),
    sa.Column('set_priority', sa.String(length=20), nullable=True),
    sa.Column('add_tags', JSON, nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'team_id'], ['teams.tenant_id', 'teams.id'], name='routing_rules_team_fkey'),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    op.create_index('routing_rules_tenant_position_idx', 'routing_rules', ['tenant_id', 'position', 'id'], unique=False)
    op.create_index('routing_rules_tenant_team_idx', 'routing_rules', ['tenant_id', 'team_id'], unique=False)
    for table in TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in reversed(TABLES):
        disable_tenant_rls(table)
        op.drop_table(table)
