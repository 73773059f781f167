"""pipelines, stages, deals, stage history, tasks, outbox, idempotency

Revision ID: 0001
Revises:
Create Date: 2026-11-22 08:27:08.332379
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from crm_db.rls import disable_tenant_rls, enable_tenant_rls

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

TENANT_TABLES = ('pipelines', 'pipeline_stages', 'deals', 'deal_stage_history', 'tasks', 'idempotency_keys',
                 'processed_events')
IS_DEFAULT = {'sqlite_where': sa.text('is_default'), 'postgresql_where': sa.text('is_default')}


def upgrade() -> None:
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
    op.create_table('outbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('event_id', sa.Uuid(), nullable=False),
    sa.Column('event_type', sa.String(length=100), nullable=False),
    sa.Column('topic', sa.String(length=200), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('pipelines',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    with op.batch_alter_table('pipelines', schema=None) as batch_op:
        batch_op.create_index('pipelines_tenant_created_idx', ['tenant_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('pipelines_tenant_default_key', ['tenant_id'], unique=True, **IS_DEFAULT)
        batch_op.create_index('pipelines_tenant_name_idx', ['tenant_id', 'name', 'id'], unique=False)

    op.create_table('processed_events',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('consumer', sa.String(length=100), nullable=False),
    sa.Column('event_id', sa.Uuid(), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'consumer', 'event_id')
    )
    op.create_table('pipeline_stages',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('pipeline_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('probability', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("kind in ('open', 'won', 'lost')", name='pipeline_stages_kind_check'),
    sa.CheckConstraint('probability between 0 and 100', name='pipeline_stages_probability_check'),
    sa.ForeignKeyConstraint(['tenant_id', 'pipeline_id'], ['pipelines.tenant_id', 'pipelines.id'],
                            name='pipeline_stages_pipeline_fkey', ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'id'),
    sa.UniqueConstraint('tenant_id', 'pipeline_id', 'id', name='pipeline_stages_tenant_pipeline_id_key')
    )
    op.create_table('deals',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('pipeline_id', sa.Uuid(), nullable=False),
    sa.Column('stage_id', sa.Uuid(), nullable=False),
    sa.Column('contact_id', sa.Uuid(), nullable=True),
    sa.Column('owner_id', sa.Uuid(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('close_date', sa.Date(), nullable=True),
    sa.Column('probability', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("status in ('open', 'won', 'lost')", name='deals_status_check'),
    sa.ForeignKeyConstraint(['tenant_id', 'pipeline_id', 'stage_id'],
                            ['pipeline_stages.tenant_id', 'pipeline_stages.pipeline_id', 'pipeline_stages.id'],
                            name='deals_stage_fkey'),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.create_index('deals_tenant_amount_idx', ['tenant_id', 'amount', 'id'], unique=False)
        batch_op.create_index('deals_tenant_close_date_idx', ['tenant_id', 'close_date', 'id'], unique=False)
        batch_op.create_index('deals_tenant_contact_idx', ['tenant_id', 'contact_id'], unique=False)
        batch_op.create_index('deals_tenant_created_idx', ['tenant_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('deals_tenant_name_idx', ['tenant_id', 'name', 'id'], unique=False)
        batch_op.create_index('deals_tenant_pipeline_stage_idx', ['tenant_id', 'pipeline_id', 'stage_id'], unique=False)
        batch_op.create_index('deals_tenant_stage_idx', ['tenant_id', 'stage_id'], unique=False)

    op.create_table('deal_stage_history',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('deal_id', sa.Uuid(), nullable=False),
    sa.Column('from_stage_id', sa.Uuid(), nullable=True),
    sa.Column('to_stage_id', sa.Uuid(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('changed_by', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'deal_id'], ['deals.tenant_id', 'deals.id'],
                            name='deal_stage_history_deal_fkey', ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    with op.batch_alter_table('deal_stage_history', schema=None) as batch_op:
        batch_op.create_index('deal_stage_history_tenant_deal_idx', ['tenant_id', 'deal_id', 'changed_at', 'id'], unique=False)

    op.create_table('tasks',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('deal_id', sa.Uuid(), nullable=True),
    sa.Column('contact_id', sa.Uuid(), nullable=True),
    sa.Column('assignee_id', sa.Uuid(), nullable=True),
    sa.Column('done', sa.Boolean(), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'deal_id'], ['deals.tenant_id', 'deals.id'], name='tasks_deal_fkey'),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index('tasks_tenant_contact_idx', ['tenant_id', 'contact_id'], unique=False)
        batch_op.create_index('tasks_tenant_created_idx', ['tenant_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('tasks_tenant_deal_idx', ['tenant_id', 'deal_id'], unique=False)
        batch_op.create_index('tasks_tenant_due_at_idx', ['tenant_id', 'due_at', 'id'], unique=False)
        batch_op.create_index('tasks_tenant_title_idx', ['tenant_id', 'title', 'id'], unique=False)

    enable_tenant_rls(*TENANT_TABLES)


def downgrade() -> None:
    disable_tenant_rls(*TENANT_TABLES)
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('tasks_tenant_title_idx')
        batch_op.drop_index('tasks_tenant_due_at_idx')
        batch_op.drop_index('tasks_tenant_deal_idx')
        batch_op.drop_index('tasks_tenant_created_idx')
        batch_op.drop_index('tasks_tenant_contact_idx')

    op.drop_table('tasks')
    with op.batch_alter_table('deal_stage_history', schema=None) as batch_op:
        batch_op.drop_index('deal_stage_history_tenant_deal_idx')

    op.drop_table('deal_stage_history')
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.drop_index('deals_tenant_stage_idx')
        batch_op.drop_index('deals_tenant_pipeline_stage_idx')
        batch_op.drop_index('deals_tenant_name_idx')
        batch_op.drop_index('deals_tenant_created_idx')
        batch_op.drop_index('deals_tenant_contact_idx')
        batch_op.drop_index('deals_tenant_close_date_idx')
        batch_op.drop_index('deals_tenant_amount_idx')

    op.drop_table('deals')
    op.drop_table('pipeline_stages')
    op.drop_table('processed_events')
    with op.batch_alter_table('pipelines', schema=None) as batch_op:
        batch_op.drop_index('pipelines_tenant_name_idx')
        batch_op.drop_index('pipelines_tenant_default_key', **IS_DEFAULT)
        batch_op.drop_index('pipelines_tenant_created_idx')

    op.drop_table('pipelines')
    op.drop_table('outbox')
    op.drop_table('idempotency_keys')
