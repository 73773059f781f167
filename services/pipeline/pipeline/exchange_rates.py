"""Exchange rates (/v1/exchange-rates): one rate per currency, to the tenant's base currency.

A deal's amount_in_base is its amount times its currency's rate (the base currency's rate is 1),
rounded to cents, written with the amount. Without a rate it is null. Changing, adding or
deleting a rate re-converts the open deals of that currency in one UPDATE (closed deals keep the
value they closed at); a new base currency re-converts every open deal.
"""

from __future__ import annotations

import decimal
from typing import Any

from sqlalchemy import case, func, or_, select, update
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
    # Open deals follow the rates; a closed deal keeps the value it closed at, unless it has none
    # yet (its currency had no rate then): it gets one as soon as there is a rate.
    follows = or_(Deal.status == "open", Deal.amount_in_base.is_(None))
    stmt = update(Deal).where(Deal.tenant_id == tenant, follows, Deal.amount.is_not(None))
    scope = [Deal.tenant_id == tenant, follows, Deal.amount.is_not(None)]
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


RATE_PLACES = decimal.Decimal("1e-10")  # the rate column's scale
RATE_MIN, RATE_MAX = RATE_PLACES, decimal.Decimal(10**12)  # what the column holds and the API accepts


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

    def rebase(self, session: Session, old_base: str, new_base: str) -> None:
        """The base currency moves from old_base to new_base: every rate is re-quoted in the new
        base, from the new base's own rate (its value in the old one), then open deals re-convert.
        No rate for the new base while there are others: 422, the rates cannot be re-quoted."""
        rates = {r.currency: r for r in session.scalars(select(ExchangeRate).with_for_update())}
        pivot = rates.get(new_base)
        if pivot is None:
            if rates:
                raise validation_error({"base_currency": [
                    f"Add a rate for {new_base} (its value in {old_base}) first: the other rates are re-quoted from it."]})
            reconvert_open_deals(session)
            return
        with decimal.localcontext() as exact:
            exact.prec = 40
            quoted = {c: (r.rate / pivot.rate).quantize(RATE_PLACES) for c, r in rates.items() if c != new_base}
            inverse = (decimal.Decimal(1) / pivot.rate).quantize(RATE_PLACES)
        if any(not RATE_MIN <= q <= RATE_MAX for q in (*quoted.values(), inverse)):
            raise validation_error({"base_currency": [
                f"Re-quoted in {new_base}, a rate would fall outside {RATE_MIN}..{RATE_MAX}: adjust the rates first."]})
        for currency, value in quoted.items():
            row = rates[currency]
            before = self.serialize(row)
            row.rate = value
            session.flush()
            self.outbox.emit(session, "crm.exchange_rate.updated", row.id, self.serialize(row),
                             changes={"rate": [before["rate"], self.serialize(row)["rate"]]})
        gone = self.serialize(pivot)
        session.delete(pivot)
        session.flush()
        self.outbox.emit(session, "crm.exchange_rate.deleted", gone["id"], gone)
        old = ExchangeRate(currency=old_base, rate=inverse)
        session.add(old)
        session.flush()
        self.outbox.emit(session, "crm.exchange_rate.created", old.id, self.serialize(old))
        reconvert_open_deals(session)

    def delete(self, session: Session, record_id: Any, expected_version: int | None = None) -> None:
        record = self.get(session, record_id)
        currency = record.currency
        super().delete(session, record_id, expected_version)
        reconvert_open_deals(session, currency)
