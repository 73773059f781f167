"""saved views: a user's own named views of the contacts and companies tables

Revision ID: 0007
Revises: 0006
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from crm_db.rls import disable_tenant_rls, enable_tenant_rls

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('saved_views',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('object', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('q', sa.String(length=500), nullable=True),
    sa.Column('filter', sa.Text(), nullable=True),
    sa.Column('sort', sa.String(length=500), nullable=True),
    sa.Column('columns', JSON, nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    with op.batch_alter_table('saved_views', schema=None) as batch_op:
        batch_op.create_index('saved_views_user_idx', ['tenant_id', 'user_id', 'object', 'created_at', 'id'], unique=False)
    enable_tenant_rls('saved_views')


def downgrade() -> None:
    disable_tenant_rls('saved_views')
    op.drop_table('saved_views')
