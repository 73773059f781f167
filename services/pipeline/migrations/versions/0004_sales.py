"""products, line items, deal contacts, exchange rates, pipeline settings, deal properties, deal change log

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in with the sales tables


def downgrade() -> None:
    pass
