"""logged emails: email activities' message and thread columns, logged_emails and their addresses

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
ACTIVITY_COLUMNS = (
    ('inbound_id', sa.Uuid()), ('thread_id', sa.Uuid()), ('message_id', sa.String(length=998)),
    ('in_reply_to', sa.String(length=998)), ('email_references', JSON), ('participants', JSON),
)


def upgrade() -> None:
    with op.batch_alter_table('activities', schema=None) as batch_op:
        for name, type_ in ACTIVITY_COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))
        batch_op.create_index('activities_thread_idx', ['tenant_id', 'thread_id', 'occurred_at', 'id'], unique=False)
    op.create_table('logged_emails',
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('message_id', sa.String(length=998), nullable=True),
    sa.Column('thread_id', sa.Uuid(), nullable=False),
    sa.Column('in_reply_to', sa.String(length=998), nullable=True),
    sa.Column('email_references', JSON, nullable=False),
    sa.Column('from_address', sa.String(length=320), nullable=True),
    sa.Column('from_name', sa.String(length=200), nullable=True),
    sa.Column('participants', JSON, nullable=False),
    sa.Column('subject', sa.String(length=500), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('snippet', sa.String(length=300), nullable=True),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('contact_ids', JSON, nullable=False),
    sa.Column('matched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    with op.batch_alter_table('logged_emails', schema=None) as batch_op:
        batch_op.create_index('logged_emails_status_idx', ['tenant_id', 'status', 'occurred_at', 'id'], unique=False)
        batch_op.create_index('logged_emails_message_idx', ['tenant_id', 'message_id'], unique=False)
        batch_op.create_index('logged_emails_thread_idx', ['tenant_id', 'thread_id'], unique=False)
    op.create_table('logged_email_addresses',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('logged_email_id', sa.Uuid(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'address', 'logged_email_id')
    )
    enable_tenant_rls('logged_emails', 'logged_email_addresses')


def downgrade() -> None:
    disable_tenant_rls('logged_emails', 'logged_email_addresses')
    op.drop_table('logged_email_addresses')
    op.drop_table('logged_emails')
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.drop_index('activities_thread_idx')
        for name, _type in reversed(ACTIVITY_COLUMNS):
            batch_op.drop_column(name)
