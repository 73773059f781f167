"""deal timelines and meetings: activities' deal_id and meeting columns, the deal replica, logged mail for deals

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from crm_db.rls import disable_tenant_rls, enable_tenant_rls

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

ACTIVITY_COLUMNS = (
    ('deal_id', sa.Uuid()), ('location', sa.String(length=500)), ('time_zone', sa.String(length=64)),
    ('send_invitations', sa.Boolean()), ('cancelled', sa.Boolean()), ('sequence', sa.Integer()),
    ('reply_token', sa.String(length=64)),
)
# Meetings logged before attendees had a status kept bare addresses: the objects the API now shows.
PG_ATTENDEES = """
UPDATE activities SET attendees = (
  SELECT coalesce(jsonb_agg(CASE WHEN jsonb_typeof(a) = 'string'
                                 THEN jsonb_build_object('email', a #>> '{}', 'name', null, 'status', 'needs_action')
                                 ELSE a END), '[]'::jsonb)
  FROM jsonb_array_elements(attendees) AS a)
WHERE attendees IS NOT NULL AND jsonb_typeof(attendees) = 'array'
"""


def upgrade() -> None:
    with op.batch_alter_table('activities', schema=None) as batch_op:
        for name, type_ in ACTIVITY_COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))
        batch_op.create_index('activities_deal_timeline_idx', ['tenant_id', 'deal_id', 'occurred_at', 'id'], unique=False)
        batch_op.create_index('activities_reply_token_idx', ['tenant_id', 'reply_token'], unique=False)
    with op.batch_alter_table('logged_emails', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deal_number', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('deal_id', sa.Uuid(), nullable=True))
        batch_op.create_index('logged_emails_deal_number_idx', ['tenant_id', 'deal_number'], unique=False)
    op.create_table('deal_refs',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('number', sa.BigInteger(), nullable=True),
    sa.Column('name', sa.String(length=500), nullable=True),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('deal_version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    with op.batch_alter_table('deal_refs', schema=None) as batch_op:
        batch_op.create_index('deal_refs_number_idx', ['tenant_id', 'number'], unique=False)
    enable_tenant_rls('deal_refs')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(PG_ATTENDEES)


def downgrade() -> None:
    disable_tenant_rls('deal_refs')
    op.drop_table('deal_refs')
    with op.batch_alter_table('logged_emails', schema=None) as batch_op:
        batch_op.drop_index('logged_emails_deal_number_idx')
        batch_op.drop_column('deal_id')
        batch_op.drop_column('deal_number')
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.drop_index('activities_reply_token_idx')
        batch_op.drop_index('activities_deal_timeline_idx')
        for name, _type in reversed(ACTIVITY_COLUMNS):
            batch_op.drop_column(name)
