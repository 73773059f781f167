"""conversations tables

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from crm_db.rls import disable_tenant_rls, enable_tenant_rls

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('ticket_messages',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('ticket_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('author_type', sa.String(length=16), nullable=False),
    sa.Column('author_id', sa.Uuid(), nullable=True),
    sa.Column('author_email', sa.String(length=320), nullable=True),
    sa.Column('author_name', sa.String(length=200), nullable=True),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('body_text', sa.Text(), nullable=False),
    sa.Column('body_html', sa.Text(), nullable=True),
    sa.Column('to', JSON, nullable=False),
    sa.Column('cc', JSON, nullable=False),
    sa.Column('attachments', JSON, nullable=False),
    sa.Column('mentions', JSON, nullable=False),
    sa.Column('message_id', sa.String(length=998), nullable=True),
    sa.Column('in_reply_to', sa.String(length=998), nullable=True),
    sa.Column('reply_token', sa.String(length=64), nullable=True),
    sa.Column('inbound_message_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    op.create_index('ticket_messages_tenant_ticket_idx', 'ticket_messages', ['tenant_id', 'ticket_id', 'created_at', 'id'],
                    unique=False)
    op.create_index('ticket_messages_tenant_message_id_idx', 'ticket_messages', ['tenant_id', 'message_id'], unique=True)
    op.create_index('ticket_messages_tenant_reply_token_idx', 'ticket_messages', ['tenant_id', 'reply_token'],
                    unique=False)
    enable_tenant_rls('ticket_messages')
    op.create_table('ticket_attachments',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('ticket_id', sa.Uuid(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=255), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    op.create_index('ticket_attachments_tenant_ticket_idx', 'ticket_attachments', ['tenant_id', 'ticket_id', 'id'],
                    unique=False)
    enable_tenant_rls('ticket_attachments')


def downgrade() -> None:
    disable_tenant_rls('ticket_attachments')
    op.drop_table('ticket_attachments')
    disable_tenant_rls('ticket_messages')
    op.drop_table('ticket_messages')
