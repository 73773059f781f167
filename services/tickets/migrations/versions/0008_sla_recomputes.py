"""sla_recomputes: chunked recomputes of open tickets' SLA clocks after a calendar or policy change

Revision ID: 0008
Revises: 0007
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from crm_db.rls import disable_tenant_rls, enable_tenant_rls

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('sla_recomputes',
                    sa.Column('tenant_id', sa.Uuid(), nullable=False), sa.Column('id', sa.Uuid(), nullable=False),
                    sa.Column('status', sa.String(length=16), nullable=False),
                    sa.Column('reason', sa.String(length=300), nullable=False),
                    sa.Column('scope', JSON, nullable=False),
                    sa.Column('tickets_total', sa.Integer(), nullable=False),
                    sa.Column('tickets_done', sa.Integer(), nullable=False),
                    sa.Column('after_ticket_id', sa.Uuid(), nullable=True),
                    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
                    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
                    sa.Column('error', sa.Text(), nullable=True),
                    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
                    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
                    sa.Column('version', sa.Integer(), nullable=False),
                    sa.PrimaryKeyConstraint('tenant_id', 'id'))
    op.create_index('sla_recomputes_tenant_created_idx', 'sla_recomputes', ['tenant_id', 'created_at', 'id'], unique=False)
    enable_tenant_rls('sla_recomputes')


def downgrade() -> None:
    disable_tenant_rls('sla_recomputes')
    op.drop_table('sla_recomputes')
