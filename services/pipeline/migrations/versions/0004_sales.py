"""products, line items, deal contacts, exchange rates, pipeline settings, deal properties, deal change log

deal_stage_history becomes deal_changes (an immutable log of stage and field changes): its rows
are copied as stage changes and the old table is dropped.

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from crm_db.rls import disable_tenant_rls, enable_tenant_rls, force_rls, lift_forced_rls

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
TABLES = ('deal_contacts', 'products', 'deal_line_items', 'exchange_rates', 'pipeline_settings',
          'deal_property_definitions', 'deal_changes')


def _record() -> list[sa.Column]:
    return [sa.Column('tenant_id', sa.Uuid(), nullable=False), sa.Column('id', sa.Uuid(), nullable=False)]


def _stamps() -> list[sa.Column]:
    return [sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
            sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
            sa.Column('version', sa.Integer(), nullable=False)]


def _deal_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(['tenant_id', 'deal_id'], ['deals.tenant_id', 'deals.id'], ondelete='CASCADE',
                                   name=f'{table}_deal_fkey')


def upgrade() -> None:
    op.create_table('deal_contacts', *_record(),
                    sa.Column('deal_id', sa.Uuid(), nullable=False),
                    sa.Column('contact_id', sa.Uuid(), nullable=False),
                    sa.Column('role', sa.String(length=32), nullable=False),
                    sa.Column('position', sa.Integer(), nullable=False),
                    *_stamps(), _deal_fk('deal_contacts'),
                    sa.PrimaryKeyConstraint('tenant_id', 'id'),
                    sa.UniqueConstraint('tenant_id', 'deal_id', 'contact_id', name='deal_contacts_deal_contact_key'))
    op.create_index('deal_contacts_tenant_contact_idx', 'deal_contacts', ['tenant_id', 'contact_id'])
    # A deal's contact so far becomes its first deal contact. FORCE'd RLS filters the owner too (no
    # tenant is set here): the copies below read past it, each table re-forced right after.
    pg = op.get_bind().dialect.name == 'postgresql'
    lift_forced_rls('deals', 'deal_stage_history')
    if pg:
        op.execute("insert into deal_contacts (tenant_id, id, deal_id, contact_id, role, position, created_at, updated_at, version) "
                   "select tenant_id, gen_random_uuid(), id, contact_id, 'other', 0, now(), now(), 1 from deals "
                   "where contact_id is not null")

    op.create_table('products', *_record(),
                    sa.Column('name', sa.String(length=200), nullable=False),
                    sa.Column('sku', sa.String(length=100), nullable=True),
                    sa.Column('unit_price', sa.Numeric(precision=18, scale=2), nullable=False),
                    sa.Column('currency', sa.String(length=3), nullable=False),
                    sa.Column('tax_percent', sa.Numeric(precision=5, scale=2), nullable=False),
                    sa.Column('active', sa.Boolean(), nullable=False),
                    sa.Column('description', sa.Text(), nullable=True),
                    *_stamps(),
                    sa.CheckConstraint('tax_percent between 0 and 100', name='products_tax_percent_check'),
                    sa.PrimaryKeyConstraint('tenant_id', 'id'),
                    sa.UniqueConstraint('tenant_id', 'sku', name='products_tenant_sku_key'))
    op.create_index('products_tenant_created_idx', 'products', ['tenant_id', 'created_at', 'id'])
    op.create_index('products_tenant_name_idx', 'products', ['tenant_id', 'name', 'id'])

    op.create_table('deal_line_items', *_record(),
                    sa.Column('deal_id', sa.Uuid(), nullable=False),
                    sa.Column('product_id', sa.Uuid(), nullable=True),
                    sa.Column('name', sa.String(length=200), nullable=False),
                    sa.Column('quantity', sa.Numeric(precision=18, scale=4), nullable=False),
                    sa.Column('unit_price', sa.Numeric(precision=18, scale=2), nullable=False),
                    sa.Column('currency', sa.String(length=3), nullable=False),
                    sa.Column('discount_percent', sa.Numeric(precision=5, scale=2), nullable=False),
                    sa.Column('tax_percent', sa.Numeric(precision=5, scale=2), nullable=False),
                    sa.Column('net_amount', sa.Numeric(precision=18, scale=2), nullable=False),
                    sa.Column('tax_amount', sa.Numeric(precision=18, scale=2), nullable=False),
                    sa.Column('position', sa.Float(), nullable=False),
                    *_stamps(), _deal_fk('deal_line_items'),
                    sa.CheckConstraint('discount_percent between 0 and 100', name='deal_line_items_discount_percent_check'),
                    sa.CheckConstraint('tax_percent between 0 and 100', name='deal_line_items_tax_percent_check'),
                    sa.CheckConstraint('quantity > 0', name='deal_line_items_quantity_check'),
                    sa.PrimaryKeyConstraint('tenant_id', 'id'))
    op.create_index('deal_line_items_tenant_deal_idx', 'deal_line_items', ['tenant_id', 'deal_id', 'position', 'id'])

    op.create_table('exchange_rates', *_record(),
                    sa.Column('currency', sa.String(length=3), nullable=False),
                    sa.Column('rate', sa.Numeric(precision=24, scale=10), nullable=False),
                    *_stamps(),
                    sa.CheckConstraint('rate > 0', name='exchange_rates_rate_check'),
                    sa.PrimaryKeyConstraint('tenant_id', 'id'),
                    sa.UniqueConstraint('tenant_id', 'currency', name='exchange_rates_tenant_currency_key'))
    op.create_index('exchange_rates_tenant_created_idx', 'exchange_rates', ['tenant_id', 'created_at', 'id'])

    op.create_table('pipeline_settings', *_record(),
                    sa.Column('base_currency', sa.String(length=3), nullable=False),
                    sa.Column('lost_reasons', JSON, nullable=False),
                    sa.Column('follow_up_days', sa.Integer(), nullable=False),
                    *_stamps(),
                    sa.PrimaryKeyConstraint('tenant_id', 'id'),
                    sa.UniqueConstraint('tenant_id', name='pipeline_settings_tenant_key'))

    op.create_table('deal_property_definitions', *_record(),
                    sa.Column('key', sa.String(length=64), nullable=False),
                    sa.Column('label', sa.String(length=200), nullable=False),
                    sa.Column('type', sa.String(length=16), nullable=False),
                    sa.Column('options', JSON, nullable=True),
                    sa.Column('required', sa.Boolean(), nullable=False),
                    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
                    *_stamps(),
                    sa.PrimaryKeyConstraint('tenant_id', 'id'),
                    sa.UniqueConstraint('tenant_id', 'key', name='deal_property_definitions_key'))

    op.create_table('deal_changes', *_record(),
                    sa.Column('deal_id', sa.Uuid(), nullable=False),
                    sa.Column('field', sa.String(length=32), nullable=False),
                    sa.Column('old_value', JSON, nullable=True),
                    sa.Column('new_value', JSON, nullable=True),
                    sa.Column('from_stage_id', sa.Uuid(), nullable=True),
                    sa.Column('to_stage_id', sa.Uuid(), nullable=True),
                    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
                    sa.Column('changed_by', sa.Uuid(), nullable=True),
                    *_stamps(), _deal_fk('deal_changes'),
                    sa.PrimaryKeyConstraint('tenant_id', 'id'))
    op.create_index('deal_changes_tenant_deal_idx', 'deal_changes', ['tenant_id', 'deal_id', 'changed_at', 'id'])
    # The stage history so far: each row a stage change (the first one, from no stage, is the deal's creation).
    op.execute("insert into deal_changes (tenant_id, id, deal_id, field, old_value, new_value, from_stage_id, to_stage_id, "
               "changed_at, changed_by, created_at, updated_at, version) "
               "select tenant_id, id, deal_id, 'stage_id', "
               + ("to_jsonb(from_stage_id::text), to_jsonb(to_stage_id::text), " if op.get_bind().dialect.name == 'postgresql'
                  else "json_quote(from_stage_id), json_quote(to_stage_id), ")
               + "from_stage_id, to_stage_id, changed_at, changed_by, created_at, updated_at, version from deal_stage_history")
    force_rls('deals')
    disable_tenant_rls('deal_stage_history')
    op.drop_table('deal_stage_history')
    enable_tenant_rls(*TABLES)
    if op.get_bind().dialect.name == 'postgresql':
        # The change log is append-only: a row is never rewritten (deleting a deal still removes its log).
        op.execute("create function deal_changes_immutable() returns trigger language plpgsql as $$ begin "
                   "raise exception 'deal_changes rows are immutable'; end $$")
        op.execute("create trigger deal_changes_no_update before update on deal_changes "
                   "for each row execute function deal_changes_immutable()")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("drop trigger if exists deal_changes_no_update on deal_changes")
        op.execute("drop function if exists deal_changes_immutable()")
    op.create_table('deal_stage_history', *_record(),
                    sa.Column('deal_id', sa.Uuid(), nullable=False),
                    sa.Column('from_stage_id', sa.Uuid(), nullable=True),
                    sa.Column('to_stage_id', sa.Uuid(), nullable=False),
                    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
                    sa.Column('changed_by', sa.Uuid(), nullable=True),
                    *_stamps(), _deal_fk('deal_stage_history'),
                    sa.PrimaryKeyConstraint('tenant_id', 'id'))
    op.create_index('deal_stage_history_tenant_deal_idx', 'deal_stage_history', ['tenant_id', 'deal_id', 'changed_at', 'id'])
    lift_forced_rls('deal_changes')
    op.execute("insert into deal_stage_history (tenant_id, id, deal_id, from_stage_id, to_stage_id, changed_at, changed_by, "
               "created_at, updated_at, version) select tenant_id, id, deal_id, from_stage_id, to_stage_id, changed_at, "
               "changed_by, created_at, updated_at, version from deal_changes where field = 'stage_id'")
    enable_tenant_rls('deal_stage_history')
    disable_tenant_rls(*TABLES)
    for table in reversed(TABLES):
        op.drop_table(table)
