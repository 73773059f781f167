"""api_key_epoch: one counter that moves on every change to api_keys (gateway key caches check it)

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# Not tenant data (one global row), so no RLS: each gateway process reads it on every request
# served from its API-key cache; a trigger moves it on any insert, update or delete of a key
# (a revocation, a future scope change, an operator's SQL), in the same transaction.
_PG_FUNCTION = """
CREATE FUNCTION api_key_epoch_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE api_key_epoch SET epoch = epoch + 1 WHERE id = 1;
  RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.create_table('api_key_epoch',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('epoch', sa.BigInteger(), nullable=False),
                    sa.PrimaryKeyConstraint('id'))
    op.execute("INSERT INTO api_key_epoch (id, epoch) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute("CREATE TRIGGER api_keys_epoch AFTER INSERT OR UPDATE OR DELETE ON api_keys "
                   "FOR EACH STATEMENT EXECUTE FUNCTION api_key_epoch_bump()")
    else:
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER api_keys_epoch_{event.lower()} AFTER {event} ON api_keys "
                       "BEGIN UPDATE api_key_epoch SET epoch = epoch + 1 WHERE id = 1; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS api_keys_epoch ON api_keys")
        op.execute("DROP FUNCTION IF EXISTS api_key_epoch_bump()")
    else:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS api_keys_epoch_{event}")
    op.drop_table('api_key_epoch')
