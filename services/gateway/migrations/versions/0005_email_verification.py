"""users.email_verified_at and the pending verification token; existing users count as verified

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('users', sa.Column('email_verified_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('users', sa.Column('email_verification_hash', sa.String(length=64), nullable=True))
    op.add_column('users', sa.Column('email_verification_expires_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('users_email_verification_idx', 'users', ['email_verification_hash'], unique=True)
    # Accounts from before verification existed were never asked to verify: they count as
    # verified (since they were made), so the unverified-account limits lock nobody out.
    op.execute("UPDATE users SET email_verified_at = created_at WHERE email_verified_at IS NULL")


def downgrade() -> None:
    op.drop_index('users_email_verification_idx', table_name='users')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('email_verification_expires_at')
        batch_op.drop_column('email_verification_hash')
        batch_op.drop_column('email_verified_at')
