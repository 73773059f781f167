"""deal fields for sales (number, close dates, forecast category, base amount, activity dates,
board position, custom fields), stage settings (rotten days, forecast category, archiving), task
types, all-day dates, recurrence and reminders

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 05:13:05.467402
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from crm_db.rls import disable_tenant_rls, enable_tenant_rls, rls_lifted

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
FORECAST = "in ('pipeline', 'best_case', 'commit', 'closed', 'omitted')"


def upgrade() -> None:
    op.create_table('deal_counters',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('last_number', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id')
    )
    with op.batch_alter_table('pipeline_stages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rotten_days', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('forecast_category', sa.String(length=16), nullable=False,
                                      server_default='pipeline'))
        batch_op.add_column(sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_check_constraint('pipeline_stages_forecast_category_check', f'forecast_category {FORECAST}')
        batch_op.create_check_constraint('pipeline_stages_rotten_days_check', 'rotten_days is null or rotten_days > 0')
    # Closed stages forecast as closed; the likeliest open stages as commit / best case.
    op.execute("update pipeline_stages set forecast_category = case when kind <> 'open' then 'closed' "
               "when probability >= 75 then 'commit' when probability >= 50 then 'best_case' else 'pipeline' end")

    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.alter_column('close_date', new_column_name='expected_close_date')
        batch_op.add_column(sa.Column('probability_is_manual', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('forecast_category', sa.String(length=16), nullable=False,
                                      server_default='pipeline'))
        batch_op.add_column(sa.Column('forecast_category_is_manual', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('number', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('company_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('lost_reason', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('lost_note', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('won_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('lost_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('amount_in_base', sa.Numeric(precision=18, scale=2), nullable=True))
        batch_op.add_column(sa.Column('has_line_items', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('next_activity_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_activity_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('stage_entered_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('rots_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('position', sa.Float(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('properties', JSON, nullable=False, server_default='{}'))
        batch_op.drop_index('deals_tenant_close_date_idx')
    if op.get_bind().dialect.name == 'postgresql':  # a SQLite database here is a scratch one, empty
        with rls_lifted('deals'):
            backfill_deals()
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.alter_column('number', nullable=False)
        batch_op.alter_column('stage_entered_at', nullable=False)
        batch_op.create_check_constraint('deals_forecast_category_check', f'forecast_category {FORECAST}')
        batch_op.create_check_constraint('deals_probability_check', 'probability between 0 and 100')
        batch_op.create_unique_constraint('deals_tenant_number_key', ['tenant_id', 'number'])
        batch_op.create_index('deals_tenant_company_idx', ['tenant_id', 'company_id'], unique=False)
        batch_op.create_index('deals_tenant_expected_close_date_idx', ['tenant_id', 'expected_close_date', 'id'],
                              unique=False)
        batch_op.create_index('deals_tenant_owner_idx', ['tenant_id', 'owner_id'], unique=False)
        batch_op.create_index('deals_tenant_stage_position_idx', ['tenant_id', 'stage_id', 'position', 'id'],
                              unique=False)

    upgrade_tasks()
    enable_tenant_rls('deal_counters')


def backfill_deals() -> None:
    # Existing deals: numbered in creation order per tenant; closed ones closed on their close
    # date; in their stage since they were last updated; cards in creation order.
    op.execute("update deals set number = numbered.n from (select tenant_id, id, row_number() over "
               "(partition by tenant_id order by created_at, id) as n from deals) as numbered "
               "where deals.tenant_id = numbered.tenant_id and deals.id = numbered.id")
    op.execute("insert into deal_counters (tenant_id, last_number) select tenant_id, max(number) from deals "
               "group by tenant_id")
    op.execute("update deals set stage_entered_at = updated_at, amount_in_base = amount, "
               "position = extract(epoch from created_at), "
               "forecast_category = case when status <> 'open' then 'closed' else forecast_category end, "
               "closed_at = case when status <> 'open' then coalesce(expected_close_date::timestamptz, updated_at) end, "
               "won_at = case when status = 'won' then coalesce(expected_close_date::timestamptz, updated_at) end, "
               "lost_at = case when status = 'lost' then coalesce(expected_close_date::timestamptz, updated_at) end")


def upgrade_tasks() -> None:
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('type', sa.String(length=16), nullable=False, server_default='todo'))
        batch_op.add_column(sa.Column('notes', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('due_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('time_zone', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('duration_minutes', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('priority', sa.String(length=8), nullable=False, server_default='normal'))
        batch_op.add_column(sa.Column('company_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('ticket_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('recurrence', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('series_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('reminders', JSON, nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('snoozed_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('tasks_tenant_assignee_open_idx', ['tenant_id', 'assignee_id', 'done', 'due_at', 'id'],
                              unique=False)
        batch_op.create_index('tasks_tenant_company_idx', ['tenant_id', 'company_id'], unique=False)
        batch_op.create_index('tasks_tenant_ticket_idx', ['tenant_id', 'ticket_id'], unique=False)


def downgrade() -> None:
    disable_tenant_rls('deal_counters')
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('tasks_tenant_ticket_idx')
        batch_op.drop_index('tasks_tenant_company_idx')
        batch_op.drop_index('tasks_tenant_assignee_open_idx')
        for column in ('snoozed_until', 'reminders', 'series_id', 'recurrence', 'ticket_id', 'company_id', 'priority',
                       'duration_minutes', 'time_zone', 'due_date', 'notes', 'type'):
            batch_op.drop_column(column)

    with op.batch_alter_table('pipeline_stages', schema=None) as batch_op:
        batch_op.drop_constraint('pipeline_stages_rotten_days_check', type_='check')
        batch_op.drop_constraint('pipeline_stages_forecast_category_check', type_='check')
        for column in ('archived_at', 'forecast_category', 'rotten_days'):
            batch_op.drop_column(column)

    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.drop_index('deals_tenant_stage_position_idx')
        batch_op.drop_index('deals_tenant_owner_idx')
        batch_op.drop_constraint('deals_tenant_number_key', type_='unique')
        batch_op.drop_constraint('deals_probability_check', type_='check')
        batch_op.drop_constraint('deals_forecast_category_check', type_='check')
        batch_op.drop_index('deals_tenant_expected_close_date_idx')
        batch_op.drop_index('deals_tenant_company_idx')
        for column in ('properties', 'position', 'rots_at', 'stage_entered_at', 'last_activity_at', 'next_activity_at',
                       'has_line_items', 'amount_in_base', 'closed_at', 'lost_at', 'won_at', 'lost_note',
                       'lost_reason', 'company_id', 'number', 'forecast_category_is_manual', 'forecast_category',
                       'probability_is_manual'):
            batch_op.drop_column(column)
        batch_op.alter_column('expected_close_date', new_column_name='close_date')
        batch_op.create_index('deals_tenant_close_date_idx', ['tenant_id', 'close_date', 'id'], unique=False)
    op.drop_table('deal_counters')
