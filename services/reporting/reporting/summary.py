"""The tenant summary, computed with SQL aggregates over the fact tables.

Queries run in the caller's tenant context: crm_db scopes them to that tenant (and RLS does on
PostgreSQL), so no query here names a tenant.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, case, func, select, true
from sqlalchemy.orm import Session

from crm_db.base import as_utc
from reporting.models import CampaignFact, ContactFact, DealFact, Fact, TicketFact

OPEN_TICKET_STATUSES = ("new", "open", "pending")


def _count_and_latest(session: Session, model: type[Fact],
                      where: ColumnElement[bool] | None = None) -> tuple[int, dt.datetime | None]:
    """Live rows matching `where`, and the newest event time over all rows (tombstones too)."""
    live = model.deleted.is_(False) & (where if where is not None else true())
    count, latest = session.execute(
        select(func.coalesce(func.sum(case((live, 1), else_=0)), 0), func.max(model.event_time)).select_from(model)
    ).one()
    return int(count), as_utc(latest) if latest is not None else None


def tenant_summary(session: Session) -> dict[str, Any]:
    contacts, t1 = _count_and_latest(session, ContactFact)
    open_deals, t2 = _count_and_latest(session, DealFact, DealFact.status == "open")
    open_tickets, t3 = _count_and_latest(session, TicketFact, TicketFact.status.in_(OPEN_TICKET_STATUSES))
    campaigns, t4 = _count_and_latest(session, CampaignFact)
    pipeline = session.execute(
        select(DealFact.currency, func.sum(DealFact.amount))
        .where(DealFact.deleted.is_(False), DealFact.status == "open", DealFact.amount.is_not(None))
        .group_by(DealFact.currency).order_by(DealFact.currency)
    ).all()
    times = [t for t in (t1, t2, t3, t4) if t is not None]
    return {
        "contacts": contacts,
        "open_deals": open_deals,
        "pipeline_value": [{"amount": amount, "currency": currency} for currency, amount in pipeline],
        "open_tickets": open_tickets,
        "campaigns": campaigns,
        "as_of": max(times) if times else None,
    }
