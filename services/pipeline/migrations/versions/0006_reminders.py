"""users replica, notifications, reminder timers

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from crm_db.rls import disable_tenant_rls, enable_tenant_rls

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
TENANT_TABLES = ('users', 'contact_replicas', 'notifications')
NOT_FIRED = {'postgresql_where': sa.text('fired_at IS NULL'), 'sqlite_where': sa.text('fired_at IS NULL')}
UNREAD = {'postgresql_where': sa.text('read_at IS NULL'), 'sqlite_where': sa.text('read_at IS NULL')}


def _record_columns() -> list[sa.Column]:
    return [sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
            sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
            sa.Column('version', sa.Integer(), nullable=False)]


def upgrade() -> None:
    op.create_table('users',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('event_time', sa.DateTime(timezone=True), nullable=False),
    *_record_columns(),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    op.create_table('contact_replicas',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=400), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('owner_id', sa.Uuid(), nullable=True),
    sa.Column('last_contacted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('contact_created_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('event_time', sa.DateTime(timezone=True), nullable=False),
    *_record_columns(),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    op.create_index('contact_replicas_tenant_owner_idx', 'contact_replicas',
                    ['tenant_id', 'owner_id', 'last_contacted_at', 'id'], unique=False)
    op.create_table('notifications',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('subject_type', sa.String(length=16), nullable=False),
    sa.Column('subject_id', sa.Uuid(), nullable=False),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('data', JSON, nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    *_record_columns(),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    op.create_index('notifications_tenant_user_created_idx', 'notifications',
                    ['tenant_id', 'user_id', 'created_at', 'id'], unique=False)
    op.create_index('notifications_tenant_user_unread_idx', 'notifications', ['tenant_id', 'user_id'],
                    unique=False, **UNREAD)
    # Not under RLS (like the outbox): the scheduler claims due rows of every tenant.
    op.create_table('timers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=50), nullable=False),
    sa.Column('subject_id', sa.Uuid(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('payload', JSON, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('fired_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('timers_pending_due_idx', 'timers', ['due_at'], unique=False, **NOT_FIRED)
    op.create_index('timers_tenant_subject_idx', 'timers', ['tenant_id', 'kind', 'subject_id'], unique=False)
    enable_tenant_rls(*TENANT_TABLES)


def downgrade() -> None:
    disable_tenant_rls(*TENANT_TABLES)
    op.drop_table('timers')
    op.drop_table('notifications')
    op.drop_table('contact_replicas')
    op.drop_table('users')
