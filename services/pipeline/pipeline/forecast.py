"""The sales forecast: per period and group (owner, pipeline or none), in the base currency.

Categories follow Salesforce's cumulative forecast rollups, so each figure answers "how much if
everything at this level of confidence closes":

- `won`: deals won in the period, by the date they were won (won_at; a won deal without won_at
  counts by its expected close date). The close date a rep guessed is not when the money came.
- `commit` = won + open deals in category commit;
- `best_case` = commit + open deals in category best_case;
- `pipeline` = every open deal not omitted (pipeline + best_case + commit: the open pipeline);
- `weighted` = Σ open amount_in_base × probability / 100 over the same open deals;
- `omitted`: open deals in category omitted, shown apart and in no other figure.

Open deals count in the period of their expected_close_date. `quota` comes from the sales
targets of the same kind (a quarter without a quarterly target sums the owner's monthly ones);
`attainment` = won / quota. Grouped by pipeline there is no quota (targets are per owner).

One aggregate statement (the period bucket and the group computed in SQL), one read of the
targets. Without a filter on PostgreSQL it sums deal_forecast_totals, which a trigger keeps in step
with every deal write (a few rows per month, owner, pipeline and category), instead of every deal
in range: 50 ms of database CPU for a 100,000-deal tenant, too much for a dashboard.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, and_, case, func, literal, literal_column, null, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from crm_core import context
from pipeline.board import HUNDRED, money_text
from pipeline.models import Deal
from pipeline.models.forecast import NO_OWNER, DealForecastTotals, SalesTarget
from pipeline.periods import Period, period_number

ZERO = decimal.Decimal(0)
GROUPS = ("owner", "pipeline")


def _dec(value: Any) -> decimal.Decimal:
    return ZERO if value is None else decimal.Decimal(str(value))


@dataclass
class Figures:
    won: decimal.Decimal = ZERO
    commit_open: decimal.Decimal = ZERO
    best_case_open: decimal.Decimal = ZERO
    pipeline_open: decimal.Decimal = ZERO
    omitted: decimal.Decimal = ZERO
    weighted: decimal.Decimal = ZERO  # × 100 until output
    won_count: int = 0
    open_count: int = 0
    quota: decimal.Decimal | None = None

    def add(self, other: Figures) -> None:
        for name in ("won", "commit_open", "best_case_open", "pipeline_open", "omitted", "weighted", "won_count",
                     "open_count"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if other.quota is not None:
            self.quota = (self.quota or ZERO) + other.quota

    def out(self) -> dict[str, Any]:
        commit = self.won + self.commit_open
        attainment = None
        if self.quota:
            attainment = float((self.won / self.quota).quantize(decimal.Decimal("0.0001")))
        return {"won": money_text(self.won), "commit": money_text(commit),
                "best_case": money_text(commit + self.best_case_open), "pipeline": money_text(self.pipeline_open),
                "weighted": money_text(self.weighted / HUNDRED), "omitted": money_text(self.omitted),
                "won_count": self.won_count, "open_count": self.open_count,
                "quota": money_text(self.quota), "attainment": attainment}


@dataclass
class PeriodFigures:
    period: Period
    total: Figures = field(default_factory=Figures)
    groups: dict[uuid.UUID | None, Figures] = field(default_factory=dict)


def deal_sums(session: Session, kind: str, first: Period, last: Period, group_by: str | None,
              where: ColumnElement[bool] | None) -> list[Any]:
    """The one aggregate: rows of (period number, group, sums) for won and open deals in range.

    The deals in range are bucketed in a subquery and summed over it, so GROUP BY names plain
    columns (a repeated CASE with bound values is another expression to PostgreSQL)."""
    dialect = session.get_bind().dialect.name
    tenant = context.require_tenant()
    if where is None and dialect == "postgresql":
        d = _totals_rows(tenant, kind, first, last, group_by)
    else:
        d = _deal_rows(tenant, dialect, kind, first, last, group_by, where)
    is_open = d.c.status == "open"
    counted = and_(is_open, d.c.forecast_category != "omitted")

    def total(condition: ColumnElement[bool], value: Any = d.c.base) -> Any:
        return func.sum(case((condition, value)))

    stmt = (select(d.c.bucket, d.c.grp,
                   total(d.c.status == "won").label("won"),
                   total(d.c.status == "won", d.c.n).label("won_count"),
                   total(counted, d.c.n).label("open_count"),
                   total(and_(is_open, d.c.forecast_category == "commit")).label("commit_open"),
                   total(and_(is_open, d.c.forecast_category == "best_case")).label("best_case_open"),
                   total(counted).label("pipeline_open"),
                   total(and_(is_open, d.c.forecast_category == "omitted")).label("omitted"),
                   total(counted, d.c.base_weighted).label("weighted"))
            .group_by(d.c.bucket, d.c.grp))
    return list(session.connection().execute(stmt))


def _deal_rows(tenant: uuid.UUID, dialect: str, kind: str, first: Period, last: Period, group_by: str | None,
               where: ColumnElement[bool] | None) -> Any:
    """The deals in range, one row each, bucketed by period and group."""
    start, end = first.start, last.end
    start_at, end_at = (dt.datetime.combine(d, dt.time(), dt.UTC) for d in (start, end))
    by_won_at = and_(Deal.status == "won", Deal.won_at.is_not(None))
    bucket = case((by_won_at, period_number(kind, Deal.won_at, dialect, timestamp=True)),
                  else_=period_number(kind, Deal.expected_close_date, dialect))
    group: Any = {"owner": Deal.owner_id, "pipeline": Deal.pipeline_id}.get(group_by or "", null())
    in_range = or_(
        and_(Deal.status == "open", Deal.expected_close_date >= start, Deal.expected_close_date < end),
        and_(by_won_at, Deal.won_at >= start_at, Deal.won_at < end_at),
        and_(Deal.status == "won", Deal.won_at.is_(None), Deal.expected_close_date >= start,
             Deal.expected_close_date < end),
    )
    rows = (select(bucket.label("bucket"), group.label("grp"), Deal.status, Deal.forecast_category,
                   Deal.amount_in_base.label("base"), (Deal.amount_in_base * Deal.probability).label("base_weighted"),
                   literal_column("1", Integer).label("n"))
            .where(Deal.tenant_id == tenant, in_range))
    if where is not None:
        rows = rows.where(where)
    return rows.subquery("d")


def _totals_rows(tenant: uuid.UUID, kind: str, first: Period, last: Period, group_by: str | None) -> Any:
    """The trigger-kept sums (DealForecastTotals) of the months in range, shaped like the deal rows."""
    t = DealForecastTotals.__table__
    first_month, end_month = Period.of("month", first.start).index, Period.of("month", last.end).index
    bucket = t.c.month if kind == "month" else t.c.month // literal_column("3", Integer)
    owner = func.nullif(t.c.owner_key, literal(NO_OWNER, t.c.owner_key.type))
    group: Any = {"owner": owner, "pipeline": t.c.pipeline_id}.get(group_by or "", null())
    return (select(bucket.label("bucket"), group.label("grp"), t.c.kind.label("status"), t.c.forecast_category,
                   t.c.base, t.c.base_weighted, t.c.deal_count.label("n"))
            .where(t.c.tenant_id == tenant, t.c.month >= first_month, t.c.month < end_month, t.c.deal_count != 0)
            ).subquery("d")


def quotas(session: Session, kind: str, first: Period, last: Period) -> dict[tuple[int, uuid.UUID], decimal.Decimal]:
    """(period number, owner) -> quota. A quarter without the owner's quarterly target takes the
    sum of their monthly targets in it."""
    tenant = context.require_tenant()
    rows = session.connection().execute(select(SalesTarget.owner_id, SalesTarget.period, SalesTarget.period_start,
                                               SalesTarget.amount)
                                        .where(SalesTarget.tenant_id == tenant, SalesTarget.period_start >= first.start,
                                               SalesTarget.period_start < last.end)).all()
    exact: dict[tuple[int, uuid.UUID], decimal.Decimal] = {}
    summed: dict[tuple[int, uuid.UUID], decimal.Decimal] = {}
    numbers: dict[dt.date, int] = {}
    for r in rows:
        number = numbers.get(r.period_start)
        if number is None:
            number = numbers[r.period_start] = Period.of(kind, r.period_start).index
        if r.period == kind:
            exact[(number, r.owner_id)] = _dec(r.amount)
        elif kind == "quarter":  # a monthly target inside a quarter
            summed[(number, r.owner_id)] = summed.get((number, r.owner_id), ZERO) + _dec(r.amount)
    return {**summed, **exact}


def forecast(session: Session, kind: str, first: Period, last: Period, group_by: str | None,
             where: ColumnElement[bool] | None) -> dict[str, Any]:
    periods = {p.index: PeriodFigures(p) for p in _each(first, last)}
    for r in deal_sums(session, kind, first, last, group_by, where):
        target = periods.get(int(r.bucket))
        if target is None:
            continue
        figures = Figures(_dec(r.won), _dec(r.commit_open), _dec(r.best_case_open), _dec(r.pipeline_open),
                          _dec(r.omitted), _dec(r.weighted), int(r.won_count or 0), int(r.open_count or 0))
        target.total.add(figures)
        if group_by:
            target.groups.setdefault(r.grp, Figures()).add(figures)
    if group_by != "pipeline":
        for (number, owner), quota in quotas(session, kind, first, last).items():
            target = periods.get(number)
            if target is None:
                continue
            target.total.quota = (target.total.quota or ZERO) + quota
            if group_by == "owner":
                group = target.groups.setdefault(owner, Figures())
                group.quota = (group.quota or ZERO) + quota
    key = f"{group_by}_id" if group_by else None
    out = []
    for p in periods.values():
        groups = [{key: None if g is None else str(g), **f.out()}
                  for g, f in sorted(p.groups.items(), key=lambda item: str(item[0] or ""))] if key else []
        out.append({"period": p.period.label, "start": p.period.start.isoformat(),
                    "end": (p.period.end - dt.timedelta(days=1)).isoformat(), **p.total.out(), "groups": groups})
    return {"period": kind, "from": first.label, "to": last.label, "group_by": group_by, "periods": out}


def _each(first: Period, last: Period) -> Iterable[Period]:
    return (Period(first.kind, i) for i in range(first.index, last.index + 1))
