"""portal and csat tables: sign-in links, portal sessions, portal attachments, CSAT surveys and responses

Revision ID: 0007
Revises: 0006
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from crm_db.rls import disable_tenant_rls, enable_tenant_rls

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

TABLES = ('portal_login_links', 'portal_sessions', 'portal_attachments', 'csat_surveys', 'csat_responses')


def _record() -> list[sa.Column]:
    return [sa.Column('tenant_id', sa.Uuid(), nullable=False), sa.Column('id', sa.Uuid(), nullable=False)]


def _stamps() -> list[sa.Column]:
    return [sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
            sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
            sa.Column('version', sa.Integer(), nullable=False)]


def upgrade() -> None:
    op.create_table('portal_login_links', *_record(),
                    sa.Column('token_hash', sa.String(length=64), nullable=False),
                    sa.Column('email', sa.String(length=320), nullable=False),
                    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
                    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
                    *_stamps(), sa.PrimaryKeyConstraint('tenant_id', 'id'))
    op.create_index('portal_login_links_tenant_token_key', 'portal_login_links', ['tenant_id', 'token_hash'],
                    unique=True)
    op.create_index('portal_login_links_tenant_email_idx', 'portal_login_links', ['tenant_id', 'email', 'created_at'],
                    unique=False)
    op.create_table('portal_sessions', *_record(),
                    sa.Column('token_hash', sa.String(length=64), nullable=False),
                    sa.Column('email', sa.String(length=320), nullable=False),
                    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
                    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
                    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True),
                    *_stamps(), sa.PrimaryKeyConstraint('tenant_id', 'id'))
    op.create_index('portal_sessions_tenant_token_key', 'portal_sessions', ['tenant_id', 'token_hash'], unique=True)
    op.create_index('portal_sessions_tenant_email_idx', 'portal_sessions', ['tenant_id', 'email'], unique=False)
    op.create_table('portal_attachments', *_record(),
                    sa.Column('ticket_id', sa.Uuid(), nullable=False),
                    sa.Column('filename', sa.String(length=255), nullable=False),
                    sa.Column('content_type', sa.String(length=255), nullable=False),
                    sa.Column('size', sa.Integer(), nullable=False),
                    sa.Column('content', sa.LargeBinary(), nullable=False),
                    sa.Column('uploaded_by', sa.String(length=320), nullable=True),
                    *_stamps(), sa.PrimaryKeyConstraint('tenant_id', 'id'))
    op.create_index('portal_attachments_tenant_ticket_idx', 'portal_attachments', ['tenant_id', 'ticket_id'],
                    unique=False)
    op.create_table('csat_surveys', *_record(),
                    sa.Column('ticket_id', sa.Uuid(), nullable=False),
                    sa.Column('token_hash', sa.String(length=64), nullable=False),
                    sa.Column('email', sa.String(length=320), nullable=False),
                    sa.Column('agent_id', sa.Uuid(), nullable=True),
                    sa.Column('team_id', sa.Uuid(), nullable=True),
                    sa.Column('sla_met', sa.Boolean(), nullable=False),
                    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
                    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
                    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
                    *_stamps(), sa.PrimaryKeyConstraint('tenant_id', 'id'))
    op.create_index('csat_surveys_tenant_token_key', 'csat_surveys', ['tenant_id', 'token_hash'], unique=True)
    op.create_index('csat_surveys_tenant_ticket_idx', 'csat_surveys', ['tenant_id', 'ticket_id'], unique=False)
    op.create_table('csat_responses', *_record(),
                    sa.Column('survey_id', sa.Uuid(), nullable=False),
                    sa.Column('ticket_id', sa.Uuid(), nullable=False),
                    sa.Column('ticket_number', sa.Integer(), nullable=False),
                    sa.Column('rating', sa.SmallInteger(), nullable=False),
                    sa.Column('comment', sa.Text(), nullable=True),
                    sa.Column('agent_id', sa.Uuid(), nullable=True),
                    sa.Column('team_id', sa.Uuid(), nullable=True),
                    sa.Column('sla_met', sa.Boolean(), nullable=False),
                    sa.Column('requester_email', sa.String(length=320), nullable=True),
                    *_stamps(), sa.PrimaryKeyConstraint('tenant_id', 'id'))
    op.create_index('csat_responses_tenant_created_idx', 'csat_responses', ['tenant_id', 'created_at', 'id'],
                    unique=False)
    op.create_index('csat_responses_tenant_agent_idx', 'csat_responses', ['tenant_id', 'agent_id', 'created_at'],
                    unique=False)
    op.create_index('csat_responses_tenant_team_idx', 'csat_responses', ['tenant_id', 'team_id', 'created_at'],
                    unique=False)
    op.create_index('csat_responses_tenant_survey_key', 'csat_responses', ['tenant_id', 'survey_id'], unique=True)
    enable_tenant_rls(*TABLES)


def downgrade() -> None:
    disable_tenant_rls(*TABLES)
    for table in reversed(TABLES):
        op.drop_table(table)
