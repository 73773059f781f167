"""idempotency keys, user deactivation, refresh token family start, emails unique per tenant

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None
UQ = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    # The gateway's own POSTs (signup, users, API keys) take Idempotency-Key; RLS comes in 0003
    # (anonymous signup claims belong to tenant 0000...).
    op.create_table('idempotency_keys',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Integer(), nullable=True),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('location', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'key')
    )
    # 0001 made users.email unique platform-wide (unnamed constraint): PostgreSQL named it
    # users_email_key; on SQLite batch mode names it through the convention.
    postgres = op.get_bind().dialect.name == 'postgresql'
    with op.batch_alter_table('users', schema=None, naming_convention=UQ) as batch_op:
        batch_op.drop_constraint('users_email_key' if postgres else 'uq_users_email', type_='unique')
        batch_op.create_unique_constraint('users_tenant_email_key', ['tenant_id', 'email'])
        batch_op.create_index('users_email_idx', ['email'], unique=False)
        batch_op.add_column(sa.Column('deactivated_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('family_started_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.drop_column('family_started_at')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('deactivated_at')
        batch_op.drop_index('users_email_idx')
        batch_op.drop_constraint('users_tenant_email_key', type_='unique')
        batch_op.create_unique_constraint('users_email_key', ['email'])
    op.drop_table('idempotency_keys')
