"""sales targets and forecast snapshots

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from crm_db.rls import disable_tenant_rls, enable_tenant_rls, rls_lifted

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

OPEN = {'postgresql_where': sa.text("status = 'open'"), 'sqlite_where': sa.text("status = 'open'")}
WON = {'postgresql_where': sa.text("status = 'won'"), 'sqlite_where': sa.text("status = 'won'")}

# A tenant enters the snapshot schedule with its first deal: due at once, then weekly.
PG_FUNCTION = """
CREATE FUNCTION forecast_schedule_enter() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO forecast_schedule (tenant_id, due_at) VALUES (NEW.tenant_id, now())
    ON CONFLICT (tenant_id) DO NOTHING;
    RETURN NULL;
END $$
"""
# The board's totals per (pipeline, stage, currency), kept in step with every deal write. A row
# moving between keys takes the two keys' locks in key order, so concurrent moves cannot deadlock.
PG_TOTALS = """
CREATE FUNCTION deal_board_totals_add(t uuid, p uuid, s uuid, c text, n int, a numeric, pr int, b numeric)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO deal_board_totals AS x (tenant_id, pipeline_id, stage_id, currency, deal_count, amount,
                                        amount_weighted, base, base_weighted)
    VALUES (t, p, s, coalesce(c, ''), n, coalesce(a, 0) * n, coalesce(a * pr, 0) * n, coalesce(b, 0) * n,
            coalesce(b * pr, 0) * n)
    ON CONFLICT (tenant_id, pipeline_id, stage_id, currency) DO UPDATE SET
        deal_count = x.deal_count + excluded.deal_count, amount = x.amount + excluded.amount,
        amount_weighted = x.amount_weighted + excluded.amount_weighted, base = x.base + excluded.base,
        base_weighted = x.base_weighted + excluded.base_weighted
$$
"""
PG_TOTALS_TRACK = """
CREATE FUNCTION deal_board_totals_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND (OLD.pipeline_id, OLD.stage_id, OLD.currency, OLD.amount, OLD.probability,
                             OLD.amount_in_base) IS NOT DISTINCT FROM
                            (NEW.pipeline_id, NEW.stage_id, NEW.currency, NEW.amount, NEW.probability,
                             NEW.amount_in_base) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        PERFORM deal_board_totals_add(NEW.tenant_id, NEW.pipeline_id, NEW.stage_id, NEW.currency, 1, NEW.amount,
                                      NEW.probability, NEW.amount_in_base);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM deal_board_totals_add(OLD.tenant_id, OLD.pipeline_id, OLD.stage_id, OLD.currency, -1, OLD.amount,
                                      OLD.probability, OLD.amount_in_base);
    ELSIF (OLD.pipeline_id, OLD.stage_id, coalesce(OLD.currency, '')) <= (NEW.pipeline_id, NEW.stage_id,
                                                                        coalesce(NEW.currency, '')) THEN
        PERFORM deal_board_totals_add(OLD.tenant_id, OLD.pipeline_id, OLD.stage_id, OLD.currency, -1, OLD.amount,
                                      OLD.probability, OLD.amount_in_base);
        PERFORM deal_board_totals_add(NEW.tenant_id, NEW.pipeline_id, NEW.stage_id, NEW.currency, 1, NEW.amount,
                                      NEW.probability, NEW.amount_in_base);
    ELSE
        PERFORM deal_board_totals_add(NEW.tenant_id, NEW.pipeline_id, NEW.stage_id, NEW.currency, 1, NEW.amount,
                                      NEW.probability, NEW.amount_in_base);
        PERFORM deal_board_totals_add(OLD.tenant_id, OLD.pipeline_id, OLD.stage_id, OLD.currency, -1, OLD.amount,
                                      OLD.probability, OLD.amount_in_base);
    END IF;
    RETURN NULL;
END $$
"""
# The forecast's sums per (open/won, month, owner, pipeline, category), likewise.
PG_FORECAST_TOTALS = """
CREATE FUNCTION deal_forecast_totals_add(t uuid, d deals, n int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_kind text := CASE d.status WHEN 'open' THEN 'open' WHEN 'won' THEN 'won' END;
    v_day date := CASE WHEN d.status = 'won' AND d.won_at IS NOT NULL THEN (d.won_at AT TIME ZONE 'UTC')::date
                     ELSE d.expected_close_date END;
BEGIN
    IF v_kind IS NULL OR v_day IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO deal_forecast_totals AS x (tenant_id, kind, month, owner_key, pipeline_id, forecast_category,
                                           deal_count, base, base_weighted)
    VALUES (t, v_kind, (extract(year FROM v_day) * 12 + extract(month FROM v_day) - 1)::int,
            coalesce(d.owner_id, '00000000-0000-0000-0000-000000000000'), d.pipeline_id, d.forecast_category, n,
            coalesce(d.amount_in_base, 0) * n, coalesce(d.amount_in_base * d.probability, 0) * n)
    ON CONFLICT (tenant_id, kind, month, owner_key, pipeline_id, forecast_category) DO UPDATE SET
        deal_count = x.deal_count + excluded.deal_count, base = x.base + excluded.base,
        base_weighted = x.base_weighted + excluded.base_weighted;
END $$
"""
# The totals row a deal counts in, as one sortable text: two moves lock their two rows in the same
# order (by the row's whole key, not a part of it), so they cannot deadlock.
PG_FORECAST_KEY = """
CREATE FUNCTION deal_forecast_totals_key(d deals) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce(CASE d.status WHEN 'open' THEN 'open' WHEN 'won' THEN 'won' END, '') || '|' ||
           coalesce(lpad(to_char(CASE WHEN d.status = 'won' AND d.won_at IS NOT NULL THEN (d.won_at AT TIME ZONE 'UTC')::date
                                      ELSE d.expected_close_date END, 'YYYYMM'), 6, '0'), '') || '|' ||
           coalesce(d.owner_id::text, '') || '|' || d.pipeline_id::text || '|' || d.forecast_category
$$
"""
PG_FORECAST_TRACK = """
CREATE FUNCTION deal_forecast_totals_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND (OLD.status, OLD.expected_close_date, OLD.won_at, OLD.owner_id, OLD.pipeline_id,
                             OLD.forecast_category, OLD.amount_in_base, OLD.probability) IS NOT DISTINCT FROM
                            (NEW.status, NEW.expected_close_date, NEW.won_at, NEW.owner_id, NEW.pipeline_id,
                             NEW.forecast_category, NEW.amount_in_base, NEW.probability) THEN
        RETURN NULL;
    END IF;
    -- In one order (old key first when it sorts first), so two moves cannot deadlock.
    IF TG_OP = 'INSERT' THEN
        PERFORM deal_forecast_totals_add(NEW.tenant_id, NEW, 1);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM deal_forecast_totals_add(OLD.tenant_id, OLD, -1);
    ELSIF deal_forecast_totals_key(OLD) <= deal_forecast_totals_key(NEW) THEN
        PERFORM deal_forecast_totals_add(OLD.tenant_id, OLD, -1);
        PERFORM deal_forecast_totals_add(NEW.tenant_id, NEW, 1);
    ELSE
        PERFORM deal_forecast_totals_add(NEW.tenant_id, NEW, 1);
        PERFORM deal_forecast_totals_add(OLD.tenant_id, OLD, -1);
    END IF;
    RETURN NULL;
END $$
"""
PG_FORECAST_BACKFILL = """
INSERT INTO deal_forecast_totals (tenant_id, kind, month, owner_key, pipeline_id, forecast_category, deal_count, base,
                                  base_weighted)
SELECT tenant_id, kind, (extract(year FROM day) * 12 + extract(month FROM day) - 1)::int, owner_key, pipeline_id,
       forecast_category, count(*), coalesce(sum(amount_in_base), 0), coalesce(sum(amount_in_base * probability), 0)
FROM (SELECT tenant_id, status AS kind, pipeline_id, forecast_category, amount_in_base, probability,
             coalesce(owner_id, '00000000-0000-0000-0000-000000000000') AS owner_key,
             CASE WHEN status = 'won' AND won_at IS NOT NULL THEN (won_at AT TIME ZONE 'UTC')::date
                  ELSE expected_close_date END AS day
      FROM deals WHERE status IN ('open', 'won')) AS d
WHERE day IS NOT NULL
GROUP BY 1, 2, 3, 4, 5, 6
"""
PG_TOTALS_BACKFILL = """
INSERT INTO deal_board_totals (tenant_id, pipeline_id, stage_id, currency, deal_count, amount, amount_weighted, base,
                               base_weighted)
SELECT tenant_id, pipeline_id, stage_id, coalesce(currency, ''), count(*), coalesce(sum(amount), 0),
       coalesce(sum(amount * probability), 0), coalesce(sum(amount_in_base), 0),
       coalesce(sum(amount_in_base * probability), 0)
FROM deals GROUP BY tenant_id, pipeline_id, stage_id, coalesce(currency, '')
"""
SQLITE_TRIGGER = ("CREATE TRIGGER forecast_schedule_enter AFTER INSERT ON deals BEGIN "
                  "INSERT INTO forecast_schedule (tenant_id, due_at) VALUES (NEW.tenant_id, "
                  "strftime('%Y-%m-%d %H:%M:%f', 'now')) ON CONFLICT (tenant_id) DO NOTHING; END")


def _record_columns() -> list[sa.Column]:
    return [sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
            sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
            sa.Column('version', sa.Integer(), nullable=False)]


def upgrade() -> None:
    op.create_table('sales_targets',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('owner_id', sa.Uuid(), nullable=False),
    sa.Column('period', sa.String(length=8), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
    *_record_columns(),
    sa.CheckConstraint("period in ('month', 'quarter')", name='sales_targets_period_check'),
    sa.CheckConstraint('amount >= 0', name='sales_targets_amount_check'),
    sa.PrimaryKeyConstraint('tenant_id', 'id'),
    sa.UniqueConstraint('tenant_id', 'owner_id', 'period', 'period_start', name='sales_targets_owner_period_key')
    )
    op.create_index('sales_targets_tenant_created_idx', 'sales_targets', ['tenant_id', 'created_at', 'id'])
    op.create_index('sales_targets_tenant_period_idx', 'sales_targets', ['tenant_id', 'period', 'period_start'])

    op.create_table('forecast_snapshots',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('week_start', sa.Date(), nullable=False),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('horizon_start', sa.Date(), nullable=False),
    sa.Column('horizon_end', sa.Date(), nullable=False),
    sa.Column('deal_count', sa.Integer(), nullable=False),
    *_record_columns(),
    sa.PrimaryKeyConstraint('tenant_id', 'id'),
    sa.UniqueConstraint('tenant_id', 'week_start', name='forecast_snapshots_tenant_week_key')
    )
    op.create_table('forecast_snapshot_deals',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('snapshot_id', sa.Uuid(), nullable=False),
    sa.Column('deal_id', sa.Uuid(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('owner_id', sa.Uuid(), nullable=True),
    sa.Column('pipeline_id', sa.Uuid(), nullable=False),
    sa.Column('forecast_category', sa.String(length=16), nullable=False),
    sa.Column('amount_in_base', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('probability', sa.Integer(), nullable=False),
    sa.Column('expected_close_date', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'snapshot_id'], ['forecast_snapshots.tenant_id', 'forecast_snapshots.id'],
                            name='forecast_snapshot_deals_snapshot_fkey', ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'snapshot_id', 'deal_id')
    )
    # No RLS: tenant ids and due times only (see pipeline.models.forecast.ForecastSchedule).
    op.create_table('forecast_schedule',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id')
    )
    op.create_index('forecast_schedule_due_idx', 'forecast_schedule', ['due_at'])
    # Read on PostgreSQL only (kept by a trigger there); SQLite aggregates deals for the board.
    op.create_table('deal_board_totals',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('pipeline_id', sa.Uuid(), nullable=False),
    sa.Column('stage_id', sa.Uuid(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('deal_count', sa.BigInteger(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=24, scale=2), nullable=False),
    sa.Column('amount_weighted', sa.Numeric(precision=26, scale=2), nullable=False),
    sa.Column('base', sa.Numeric(precision=24, scale=2), nullable=False),
    sa.Column('base_weighted', sa.Numeric(precision=26, scale=2), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'pipeline_id', 'stage_id', 'currency')
    )
    op.create_table('deal_forecast_totals',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=4), nullable=False),
    sa.Column('month', sa.Integer(), nullable=False),
    sa.Column('owner_key', sa.Uuid(), nullable=False),
    sa.Column('pipeline_id', sa.Uuid(), nullable=False),
    sa.Column('forecast_category', sa.String(length=16), nullable=False),
    sa.Column('deal_count', sa.BigInteger(), nullable=False),
    sa.Column('base', sa.Numeric(precision=24, scale=2), nullable=False),
    sa.Column('base_weighted', sa.Numeric(precision=26, scale=2), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'kind', 'month', 'owner_key', 'pipeline_id', 'forecast_category')
    )

    pg = op.get_bind().dialect.name == 'postgresql'
    include = (lambda cols: {'postgresql_include': cols}) if pg else (lambda cols: {})
    # The board's per-stage totals and the forecast's period sums, read from the index alone.
    op.create_index('deals_board_totals_idx', 'deals', ['tenant_id', 'pipeline_id', 'stage_id'],
                    **include(['currency', 'amount', 'amount_in_base', 'probability']))
    op.create_index('deals_forecast_open_idx', 'deals', ['tenant_id', 'expected_close_date'], **OPEN,
                    **include(['forecast_category', 'owner_id', 'pipeline_id', 'amount_in_base', 'probability']))
    op.create_index('deals_forecast_won_idx', 'deals', ['tenant_id', 'won_at'], **WON,
                    **include(['owner_id', 'pipeline_id', 'amount_in_base', 'expected_close_date']))

    enable_tenant_rls('sales_targets', 'forecast_snapshots', 'forecast_snapshot_deals', 'deal_board_totals',
                      'deal_forecast_totals')
    if pg:
        op.execute(PG_FUNCTION)
        op.execute("CREATE TRIGGER forecast_schedule_enter AFTER INSERT ON deals "
                   "FOR EACH ROW EXECUTE FUNCTION forecast_schedule_enter()")
        op.execute(PG_TOTALS)
        op.execute(PG_TOTALS_TRACK)
        op.execute(PG_FORECAST_TOTALS)
        op.execute(PG_FORECAST_KEY)
        op.execute(PG_FORECAST_TRACK)
        op.execute("CREATE TRIGGER deal_forecast_totals_track AFTER INSERT OR UPDATE OR DELETE ON deals "
                   "FOR EACH ROW EXECUTE FUNCTION deal_forecast_totals_track()")
        op.execute("CREATE TRIGGER deal_board_totals_track AFTER INSERT OR UPDATE OR DELETE ON deals "
                   "FOR EACH ROW EXECUTE FUNCTION deal_board_totals_track()")
        # Tenants with deals already: deals is under FORCE RLS, which filters its owner too, so
        # lift the force for this one read (in the migration's transaction, under its lock).
        with rls_lifted('deals'):
            op.execute("INSERT INTO forecast_schedule (tenant_id, due_at) SELECT DISTINCT tenant_id, now() FROM deals")
            op.execute(PG_TOTALS_BACKFILL)
            op.execute(PG_FORECAST_BACKFILL)
    else:
        op.execute(SQLITE_TRIGGER)
        op.execute("INSERT INTO forecast_schedule (tenant_id, due_at) "
                   "SELECT DISTINCT tenant_id, strftime('%Y-%m-%d %H:%M:%f', 'now') FROM deals")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS forecast_schedule_enter ON deals")
        op.execute("DROP FUNCTION IF EXISTS forecast_schedule_enter()")
        op.execute("DROP TRIGGER IF EXISTS deal_forecast_totals_track ON deals")
        op.execute("DROP FUNCTION IF EXISTS deal_forecast_totals_track()")
        op.execute("DROP FUNCTION IF EXISTS deal_forecast_totals_key(deals)")
        op.execute("DROP FUNCTION IF EXISTS deal_forecast_totals_add(uuid, deals, int)")
        op.execute("DROP TRIGGER IF EXISTS deal_board_totals_track ON deals")
        op.execute("DROP FUNCTION IF EXISTS deal_board_totals_track()")
        op.execute("DROP FUNCTION IF EXISTS deal_board_totals_add(uuid, uuid, uuid, text, int, numeric, int, numeric)")
    else:
        op.execute("DROP TRIGGER IF EXISTS forecast_schedule_enter")
    disable_tenant_rls('sales_targets', 'forecast_snapshots', 'forecast_snapshot_deals', 'deal_board_totals',
                      'deal_forecast_totals')
    op.drop_table('deal_forecast_totals')
    op.drop_table('deal_board_totals')
    for index in ('deals_forecast_won_idx', 'deals_forecast_open_idx', 'deals_board_totals_idx'):
        op.drop_index(index, table_name='deals')
    op.drop_index('forecast_schedule_due_idx', table_name='forecast_schedule')
    op.drop_table('forecast_schedule')
    op.drop_table('forecast_snapshot_deals')
    op.drop_table('forecast_snapshots')
    op.drop_index('sales_targets_tenant_period_idx', table_name='sales_targets')
    op.drop_index('sales_targets_tenant_created_idx', table_name='sales_targets')
    op.drop_table('sales_targets')
