"""Weekly forecast snapshots and forecast accuracy.

A snapshot keeps, per tenant and week (week_start, the Monday, UTC), every open deal expected to
close from the start of the current quarter to the end of the next one (`horizon`: the current
and next months and quarters), with its owner, pipeline, category, base amount, probability and
close date. It is written in one INSERT ... SELECT, and at most once per tenant and week (a
unique key; taking it again that week answers the existing one).

The worker's loop (`ForecastSnapshotter.run`) takes one for every due tenant in
`forecast_schedule`, then schedules the tenant's next one for the following Monday 00:00 UTC; a
tenant enters the schedule with its first deal. Claiming moves due_at a lease ahead first, so two
workers never snapshot one tenant at once and a worker killed mid-way is retried after the lease.

Accuracy compares, per period, what each earlier snapshot expected from its open deals (commit,
best case = commit + best_case, weighted; omitted deals count nowhere) with what was won in that
period (as the forecast counts it), and lists the deals that slipped: in a snapshot for that
period, but now lost, deleted, open with a later (or no) close date, or won in a later period.
Each slipped deal is listed once per period, with the close date of the latest snapshot that had
it there.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Date, and_, case, cast, func, insert, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crm_core import context
from crm_core.ids import uuid7
from crm_db.base import as_utc, utcnow
from crm_db.database import Database
from crm_events.outbox import Outbox
from pipeline.board import HUNDRED, money_text
from pipeline.forecast import ZERO, _dec, deal_sums
from pipeline.models import Deal
from pipeline.models.forecast import ForecastSchedule, ForecastSnapshot, ForecastSnapshotDeal
from pipeline.periods import Period, period_number

log = logging.getLogger(__name__)
LEASE = dt.timedelta(minutes=10)
SLIPPED_LIMIT = 200  # per period; slipped_count has them all


def week_start(now: dt.datetime) -> dt.date:
    day = as_utc(now).date()
    return day - dt.timedelta(days=day.weekday())


def next_due(now: dt.datetime) -> dt.datetime:
    """The next Monday 00:00 UTC after `now`."""
    return dt.datetime.combine(week_start(now) + dt.timedelta(days=7), dt.time(), dt.UTC)


def horizon(now: dt.datetime) -> tuple[dt.date, dt.date]:
    quarter = Period.of("quarter", as_utc(now).date())
    return quarter.start, (quarter + 2).start


def _month_start(expr: Any, dialect: str) -> Any:
    if dialect == "postgresql":
        return cast(func.date_trunc("month", expr), Date)
    return func.date(expr, "start of month")


def snapshot_body(row: Any) -> dict[str, Any]:
    return {"id": str(row.id), "week_start": row.week_start.isoformat(),
            "taken_at": as_utc(row.taken_at).isoformat().replace("+00:00", "Z"),
            "horizon_start": row.horizon_start.isoformat(), "horizon_end": row.horizon_end.isoformat(),
            "deal_count": row.deal_count}


def take_snapshot(session: Session, outbox: Outbox, now: dt.datetime) -> tuple[dict[str, Any], bool]:
    """This week's snapshot of the tenant in context: (its body, whether it was taken now)."""
    tenant, dialect = context.require_tenant(), session.get_bind().dialect.name
    week, (start, end) = week_start(now), horizon(now)
    snapshots = ForecastSnapshot.__table__
    sid = uuid7()
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    created = session.execute(dialect_insert(snapshots).values(
        tenant_id=tenant, id=sid, week_start=week, taken_at=now, horizon_start=start, horizon_end=end, deal_count=0,
        created_at=now, updated_at=now, version=1).on_conflict_do_nothing(
        index_elements=["tenant_id", "week_start"]).returning(snapshots.c.id)).first()
    if created is None:  # taken already this week (here, or by another worker)
        row = session.connection().execute(select(snapshots).where(
            snapshots.c.tenant_id == tenant, snapshots.c.week_start == week)).one()
        return snapshot_body(row), False
    deals = (select(literal(tenant, ForecastSnapshotDeal.tenant_id.type), literal(sid, ForecastSnapshotDeal.snapshot_id.type),
                    Deal.id, _month_start(Deal.expected_close_date, dialect), Deal.owner_id, Deal.pipeline_id,
                    Deal.forecast_category, Deal.amount_in_base, Deal.probability, Deal.expected_close_date)
             .where(Deal.tenant_id == tenant, Deal.status == "open", Deal.expected_close_date >= start,
                    Deal.expected_close_date < end))
    columns = ["tenant_id", "snapshot_id", "deal_id", "period_start", "owner_id", "pipeline_id", "forecast_category",
               "amount_in_base", "probability", "expected_close_date"]
    sd = ForecastSnapshotDeal.__table__
    session.execute(insert(sd).from_select(columns, deals))
    # Counted in SQL: drivers differ in the row count they report for INSERT ... SELECT.
    count = select(func.count()).where(sd.c.tenant_id == tenant, sd.c.snapshot_id == sid).scalar_subquery()
    session.execute(update(snapshots).where(snapshots.c.tenant_id == tenant, snapshots.c.id == sid)
                    .values(deal_count=count))
    body = snapshot_body(session.connection().execute(select(snapshots).where(
        snapshots.c.tenant_id == tenant, snapshots.c.id == sid)).one())
    outbox.emit(session, "crm.forecast_snapshot.created", sid, body)
    return body, True


def enter_schedule(session: Session, due_at: dt.datetime) -> None:
    """Make sure the tenant in context has a schedule row (normally its first deal made one)."""
    table = ForecastSchedule.__table__
    dialect_insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(dialect_insert(table).values(tenant_id=context.require_tenant(), due_at=due_at)
                    .on_conflict_do_nothing(index_elements=["tenant_id"]))


@dataclass
class ForecastSnapshotter:
    """The worker loop: a snapshot per due tenant, then its next one a week on."""

    db: Database
    outbox: Outbox
    now: Callable[[], dt.datetime] = utcnow
    poll_interval: float = 60.0
    batch: int = 20

    def claim(self, now: dt.datetime) -> list[uuid.UUID]:
        table = ForecastSchedule.__table__
        with self.db.transaction() as session:  # no tenant: the schedule has no RLS
            due = session.execute(select(table.c.tenant_id).where(table.c.due_at <= now)
                                  .order_by(table.c.due_at).limit(self.batch)).scalars().all()
            claimed = []
            for tenant in due:
                moved = session.execute(update(table).where(table.c.tenant_id == tenant, table.c.due_at <= now)
                                        .values(due_at=now + LEASE))
                if moved.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append(tenant)
        return claimed

    def run_once(self, now: dt.datetime | None = None) -> int:
        """Snapshot every due tenant; how many were due."""
        now = now or self.now()
        claimed = self.claim(now)
        table = ForecastSchedule.__table__
        for tenant in claimed:
            try:
                with context.tenant_context(tenant, request_id="forecast-snapshot"), self.db.transaction() as session:
                    take_snapshot(session, self.outbox, now)
                    session.execute(update(table).where(table.c.tenant_id == tenant).values(due_at=next_due(now)))
            except Exception:  # this tenant again after the lease; the others go on
                log.exception("forecast snapshot failed for a tenant; retrying after the lease")
        return len(claimed)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                while self.run_once() >= self.batch and not stop.is_set():
                    pass  # a full batch: more may be due
            except Exception:  # the database went away, say: try again later
                log.exception("forecast snapshots failed; retrying")
            stop.wait(self.poll_interval)


# --- accuracy -----------------------------------------------------------------------------------

def _snapshot_figures(session: Session, kind: str, first: Period, last: Period) -> list[Any]:
    tenant, dialect = context.require_tenant(), session.get_bind().dialect.name
    sd, snap = ForecastSnapshotDeal.__table__, ForecastSnapshot.__table__
    rows = (select(sd.c.snapshot_id, snap.c.week_start,
                   period_number(kind, sd.c.expected_close_date, dialect).label("bucket"),
                   sd.c.forecast_category, sd.c.amount_in_base, sd.c.probability)
            .select_from(sd.join(snap, and_(snap.c.tenant_id == sd.c.tenant_id, snap.c.id == sd.c.snapshot_id)))
            .where(sd.c.tenant_id == tenant, snap.c.tenant_id == tenant, sd.c.expected_close_date >= first.start,
                   sd.c.expected_close_date < last.end)).subquery("s")
    counted = rows.c.forecast_category != "omitted"
    stmt = (select(rows.c.snapshot_id, rows.c.week_start, rows.c.bucket,
                   func.sum(case((rows.c.forecast_category == "commit", rows.c.amount_in_base))).label("commit"),
                   func.sum(case((rows.c.forecast_category.in_(("commit", "best_case")), rows.c.amount_in_base)))
                   .label("best_case"),
                   func.sum(case((counted, rows.c.amount_in_base * rows.c.probability))).label("weighted"),
                   func.count(case((counted, 1))).label("deal_count"))
            .group_by(rows.c.snapshot_id, rows.c.week_start, rows.c.bucket)
            .order_by(rows.c.bucket, rows.c.week_start))
    return list(session.connection().execute(stmt))


def _slipped(session: Session, kind: str, first: Period, last: Period) -> list[Any]:
    tenant, dialect = context.require_tenant(), session.get_bind().dialect.name
    sd, snap = ForecastSnapshotDeal.__table__, ForecastSnapshot.__table__
    deals = Deal.__table__
    old = period_number(kind, sd.c.expected_close_date, dialect)
    slipped = or_(
        deals.c.id.is_(None), deals.c.status == "lost",
        and_(deals.c.status == "open", or_(deals.c.expected_close_date.is_(None),
                                          period_number(kind, deals.c.expected_close_date, dialect) > old)),
        and_(deals.c.status == "won", deals.c.won_at.is_not(None),
             period_number(kind, deals.c.won_at, dialect, timestamp=True) > old),
    )
    stmt = (select(sd.c.deal_id, snap.c.week_start, old.label("bucket"), sd.c.expected_close_date.label("old_date"),
                   sd.c.amount_in_base, deals.c.name, deals.c.status, deals.c.expected_close_date.label("new_date"))
            .select_from(sd.join(snap, and_(snap.c.tenant_id == sd.c.tenant_id, snap.c.id == sd.c.snapshot_id))
                         .outerjoin(deals, and_(deals.c.tenant_id == sd.c.tenant_id, deals.c.id == sd.c.deal_id)))
            .where(sd.c.tenant_id == tenant, snap.c.tenant_id == tenant, sd.c.expected_close_date >= first.start,
                   sd.c.expected_close_date < last.end, sd.c.forecast_category != "omitted", slipped)
            .order_by(sd.c.deal_id, snap.c.week_start.desc()))
    return list(session.connection().execute(stmt))


def accuracy(session: Session, kind: str, first: Period, last: Period) -> dict[str, Any]:
    periods: dict[int, dict[str, Any]] = {}
    for i in range(first.index, last.index + 1):
        p = Period(kind, i)
        periods[i] = {"period": p.label, "start": p.start.isoformat(),
                      "end": (p.end - dt.timedelta(days=1)).isoformat(), "won": ZERO, "snapshots": [],
                      "slipped": [], "slipped_count": 0}
    for r in deal_sums(session, kind, first, last, None, None):
        if int(r.bucket) in periods:
            periods[int(r.bucket)]["won"] += _dec(r.won)
    for r in _snapshot_figures(session, kind, first, last):
        periods[int(r.bucket)]["snapshots"].append({
            "snapshot_id": str(r.snapshot_id), "week_start": r.week_start.isoformat(), "commit": money_text(_dec(r.commit)),
            "best_case": money_text(_dec(r.best_case)), "weighted": money_text(_dec(r.weighted) / HUNDRED),
            "deal_count": r.deal_count})
    seen: set[tuple[int, uuid.UUID]] = set()
    for r in _slipped(session, kind, first, last):
        key = (int(r.bucket), r.deal_id)
        if key in seen:
            continue  # rows come newest snapshot first per deal
        seen.add(key)
        target = periods[int(r.bucket)]
        target["slipped_count"] += 1
        if len(target["slipped"]) < SLIPPED_LIMIT:
            target["slipped"].append({
                "deal_id": str(r.deal_id), "name": r.name, "week_start": r.week_start.isoformat(),
                "old_expected_close_date": r.old_date.isoformat(),
                "new_expected_close_date": None if r.new_date is None else r.new_date.isoformat(),
                "status": r.status, "amount_in_base": money_text(r.amount_in_base)})
    out = []
    for p in periods.values():
        p["won"] = money_text(p["won"])
        out.append(p)
    return {"period": kind, "from": first.label, "to": last.label, "periods": out}
