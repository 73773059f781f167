"""Exchange rates (/v1/exchange-rates): one rate per currency, to the tenant's base currency.

A deal's amount_in_base is its amount times its currency's rate (the base currency's rate is 1),
rounded to cents, written with the amount. Without a rate it is null. Changing, adding or
deleting a rate re-converts the open deals of that currency in one UPDATE (closed deals keep the
value they closed at); a new base currency re-converts every open deal.
"""

from __future__ import annotations

import decimal
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from crm_core import context
from crm_core.errors import Conflict, ProblemError, validation_error
from crm_events.records import RecordService
from pipeline.models import Deal
from pipeline.models.sales import ExchangeRate
from pipeline.settings import base_currency

CENT = decimal.Decimal("0.01")
# deals.amount_in_base is Numeric(18, 2): 16 digits before the point. Amounts (to 1e15) times rates
# (to 1e12) can pass it, so such a conversion is refused rather than overflowing the column.
BASE_LIMIT = decimal.Decimal("1e16")
# Enough digits for any amount x rate the schemas admit (15 + 12 integer digits, 2 + 10 decimals).
_CONTEXT = decimal.Context(prec=60)


def too_large(field: str) -> ProblemError:
    return validation_error({field: [f"The amount in the base currency would reach {BASE_LIMIT:,.0f}: too large."]})


def rate_of(session: Session, currency: str) -> decimal.Decimal | None:
    if currency == base_currency(session):
        return decimal.Decimal(1)
    return session.scalar(select(ExchangeRate.rate).where(ExchangeRate.currency == currency))


def to_base(session: Session, amount: decimal.Decimal | None, currency: str | None,
            field: str = "amount") -> decimal.Decimal | None:
    """amount x its currency's rate in cents; 422 naming `field` when that does not fit amount_in_base."""
    if amount is None or currency is None:
        return None
    rate = rate_of(session, currency)
    if rate is None:
        return None
    # Half away from zero, as SQL round() does in reconvert_open_deals.
    value = (decimal.Decimal(amount) * rate).quantize(CENT, rounding=decimal.ROUND_HALF_UP, context=_CONTEXT)
    if abs(value) >= BASE_LIMIT:
        raise too_large(field)
    return value


def reconvert_open_deals(session: Session, currency: str | None = None) -> None:
    """amount_in_base of the tenant's open deals (of `currency`, or all) from the current rates, in SQL.

    Bumps the deals' versions (their representation changed) but sends no event per deal: the
    rate's (or the settings') event says what changed. 422 naming the rate (or the base currency)
    when a deal's converted amount would not fit amount_in_base, checked in SQL first (numeric
    arithmetic there has no such limit; only the column has)."""
    base = base_currency(session)
    tenant = context.require_tenant()
    rate = (select(ExchangeRate.rate).where(ExchangeRate.tenant_id == Deal.tenant_id, ExchangeRate.currency == Deal.currency)
            .scalar_subquery())
    converted = case((Deal.currency == base, Deal.amount), else_=func.round(Deal.amount * rate, 2))
    stmt = update(Deal).where(Deal.tenant_id == tenant, Deal.status == "open", Deal.amount.is_not(None))
    scope = [Deal.tenant_id == tenant, Deal.status == "open", Deal.amount.is_not(None)]
    if currency is not None:
        stmt = stmt.where(Deal.currency == currency)
        scope.append(Deal.currency == currency)
    largest = session.scalar(select(func.max(func.abs(converted))).where(*scope))
    if largest is not None and decimal.Decimal(largest) >= BASE_LIMIT:
        raise too_large("rate" if currency is not None else "base_currency")
    # Only rows whose value moves: an unchanged deal keeps its version (and ETag).
    stmt = stmt.where(func.coalesce(Deal.amount_in_base, -1) != func.coalesce(converted, -1))
    session.execute(stmt.values(amount_in_base=converted, version=Deal.version + 1)
                    .execution_options(synchronize_session=False))
    session.expire_all()  # deals loaded in this session re-read their new values


class ExchangeRateService(RecordService[ExchangeRate]):
    model = ExchangeRate
    aggregate = "exchange_rate"

    def before_create(self, session: Session, values: dict[str, Any]) -> None:
        if values["currency"] == base_currency(session):
            raise validation_error({"currency": ["This is the base currency: its rate is 1."]})
        existing = session.scalars(select(ExchangeRate).where(ExchangeRate.currency == values["currency"])).first()
        if existing is not None:
            raise Conflict(f"A rate for {values['currency']} exists; change it with PATCH.", existing_id=str(existing.id),
                           errors={"currency": ["Already has a rate."]})

    def create(self, session: Session, values: dict[str, Any]) -> ExchangeRate:
        record = super().create(session, values)
        reconvert_open_deals(session, record.currency)
        return record

    def fast_create(self, session: Session) -> bool:
        return False

    def after_update(self, session: Session, record: ExchangeRate, changes: dict[str, list[Any]]) -> None:
        if "rate" in changes:
            reconvert_open_deals(session, record.currency)

    def delete(self, session: Session, record_id: Any, expected_version: int | None = None) -> None:
        record = self.get(session, record_id)
        currency = record.currency
        super().delete(session, record_id, expected_version)
        reconvert_open_deals(session, currency)
