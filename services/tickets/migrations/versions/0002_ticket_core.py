"""ticket numbers, requester, channel, tags, custom fields, team, SLA summary; on_hold status; timers;
ticket settings, ticket custom field definitions, the requesters' contact projection

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from crm_db.rls import disable_tenant_rls, enable_tenant_rls, rls_lifted

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
NOT_FIRED = {'postgresql_where': sa.text('fired_at IS NULL'), 'sqlite_where': sa.text('fired_at IS NULL')}


def upgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('number', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('custom_status', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('channel', sa.String(length=20), nullable=False, server_default='api'))
        batch_op.add_column(sa.Column('requester_email', sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column('requester_name', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('company_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('team_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('tags', JSON, nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('properties', JSON, nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('linked_ticket_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('sla_policy_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('sla_due_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('sla_breached', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('suggested_article_ids', JSON, nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('last_customer_message_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_agent_reply_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table('ticket_counters',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('next_number', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id')
    )
    with rls_lifted('tickets'):
        # on_hold sits between pending and resolved: resolved and closed move one rank down.
        op.execute("UPDATE tickets SET status_rank = status_rank + 1 WHERE status IN ('resolved', 'closed')")
        op.execute("UPDATE tickets SET closed_at = updated_at WHERE status = 'closed'")
        # Existing tickets are numbered from 1001 in the order they were created.
        op.execute("UPDATE tickets SET number = 1000 + (SELECT count(*) FROM tickets t2 WHERE t2.tenant_id = tickets.tenant_id"
                   " AND (t2.created_at < tickets.created_at OR (t2.created_at = tickets.created_at AND t2.id <= tickets.id)))")
        op.execute("INSERT INTO ticket_counters (tenant_id, next_number) SELECT tenant_id, max(number) + 1 FROM tickets"
                   " GROUP BY tenant_id")
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.alter_column('number', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('channel', existing_type=sa.String(length=20), server_default=None)
        batch_op.alter_column('tags', existing_type=JSON, server_default=None)
        batch_op.alter_column('properties', existing_type=JSON, server_default=None)
        batch_op.alter_column('sla_breached', existing_type=sa.Boolean(), server_default=None)
        batch_op.alter_column('suggested_article_ids', existing_type=JSON, server_default=None)
        batch_op.create_index('tickets_tenant_number_key', ['tenant_id', 'number'], unique=True)
        batch_op.create_index('tickets_tenant_team_idx', ['tenant_id', 'team_id', 'id'], unique=False)
        batch_op.create_index('tickets_tenant_requester_email_idx', ['tenant_id', 'requester_email'], unique=False)
        batch_op.create_index('tickets_tenant_sla_due_idx', ['tenant_id', 'sla_due_at', 'id'], unique=False)
        batch_op.create_index('tickets_tenant_updated_idx', ['tenant_id', 'updated_at', 'id'], unique=False)
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
    # A platform table (no RLS): the open /portal/{mailbox}/ paths look their tenant up here.
    op.create_table('portal_mailboxes',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name'),
    sa.UniqueConstraint('tenant_id')
    )
    op.create_index('timers_pending_due_idx', 'timers', ['due_at'], unique=False, **NOT_FIRED)
    op.create_index('timers_tenant_subject_idx', 'timers', ['tenant_id', 'kind', 'subject_id'], unique=False)
    op.create_table('ticket_settings',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('statuses', JSON, nullable=False),
    sa.Column('auto_close_days', sa.Integer(), nullable=False),
    sa.Column('portal_company_tickets', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id')
    )
    op.create_table('ticket_property_definitions',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('options', JSON, nullable=True),
    sa.Column('required', sa.Boolean(), nullable=False),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'id'),
    sa.UniqueConstraint('tenant_id', 'key', name='ticket_property_definitions_key')
    )
    op.create_table('ticket_contacts',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('name', sa.String(length=400), nullable=True),
    sa.Column('company_id', sa.Uuid(), nullable=True),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('event_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    op.create_index('ticket_contacts_tenant_email_idx', 'ticket_contacts', ['tenant_id', 'email'], unique=False)
    enable_tenant_rls('ticket_counters', 'ticket_settings', 'ticket_property_definitions', 'ticket_contacts')


def downgrade() -> None:
    disable_tenant_rls('ticket_counters', 'ticket_settings', 'ticket_property_definitions', 'ticket_contacts')
    op.drop_table('ticket_contacts')
    op.drop_table('ticket_property_definitions')
    op.drop_table('ticket_settings')
    op.drop_table('timers')
    op.drop_table('portal_mailboxes')
    op.drop_table('ticket_counters')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        for index in ('tickets_tenant_updated_idx', 'tickets_tenant_sla_due_idx', 'tickets_tenant_requester_email_idx',
                      'tickets_tenant_team_idx', 'tickets_tenant_number_key'):
            batch_op.drop_index(index)
        for column in ('last_agent_reply_at', 'last_customer_message_at', 'suggested_article_ids', 'sla_breached',
                       'sla_due_at', 'sla_policy_id', 'closed_at', 'linked_ticket_id', 'properties', 'tags', 'team_id',
                       'company_id', 'requester_name', 'requester_email', 'channel', 'custom_status', 'number'):
            batch_op.drop_column(column)
