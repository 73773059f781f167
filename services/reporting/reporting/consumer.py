"""Event handlers that keep the fact tables current.

Each handler writes the record's latest state (upsert) or a tombstone, so applying an event twice
gives the same rows; the runner also dedupes by event id. Events older than a row's event_time
are ignored, so late or redelivered events never roll a record back or resurrect a deleted one.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.settings import Settings
from crm_db.base import as_utc
from crm_db.database import Database
from crm_events.consumer import Handler
from crm_events.envelope import Event
from crm_runtime.cli import ConsumerSpec
from reporting.models import CampaignFact, ContactFact, DealFact, Fact, TicketFact

GROUP = "reporting.summary"
TOPICS = ["crm.contacts.contact", "crm.pipeline.deal", "crm.tickets.ticket", "crm.campaigns.campaign"]

Values = Callable[[dict[str, Any]], dict[str, Any]]


def event_time(event: Event) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(event.time)
    if parsed.tzinfo is None:
        raise ValueError(f"event time {event.time!r} has no UTC offset")
    return as_utc(parsed)


def apply(session: Session, model: type[Fact], record_id: uuid.UUID, at: dt.datetime, *,
          deleted: bool, values: dict[str, Any]) -> bool:
    """Write one record's state as of `at`, unless the row already holds a newer state."""
    fact = session.scalars(select(model).where(model.id == record_id).with_for_update()).first()
    if fact is None:
        session.add(model(id=record_id, event_time=at, deleted=deleted, **values))
        return True
    stored = as_utc(fact.event_time)
    # On a tie the delete wins: an update stamped with the deletion's own time cannot resurrect.
    if at < stored or (at == stored and fact.deleted and not deleted):
        return False
    fact.event_time, fact.deleted = at, deleted
    for name, value in values.items():
        setattr(fact, name, value)
    return True


def upsert(model: type[Fact], values: Values) -> Handler:
    def handle(session: Session, event: Event) -> None:
        apply(session, model, uuid.UUID(event.subject), event_time(event), deleted=False, values=values(event.data))

    return handle


def tombstone(model: type[Fact], record_id: Callable[[Event], str] = lambda e: e.subject) -> Handler:
    def handle(session: Session, event: Event) -> None:
        apply(session, model, uuid.UUID(record_id(event)), event_time(event), deleted=True, values={})

    return handle


def erased(model: type[Fact]) -> Handler:
    """crm.contact.erased: data {"id", "merged_ids", "erased_at"}; every id of the person is gone."""

    def handle(session: Session, event: Event) -> None:
        at = event_time(event)
        for record_id in dict.fromkeys([event.subject, *(event.data.get("merged_ids") or [])]):
            apply(session, model, uuid.UUID(record_id), at, deleted=True, values={})

    return handle


def no_values(_data: dict[str, Any]) -> dict[str, Any]:
    return {}


def deal_values(data: dict[str, Any]) -> dict[str, Any]:
    money = data.get("amount")
    if money is None:
        return {"status": data.get("status"), "amount": None, "currency": None}
    # Decimal from the string: a float would not survive the round trip exactly.
    return {"status": data.get("status"), "amount": decimal.Decimal(money["amount"]), "currency": money["currency"]}


def ticket_values(data: dict[str, Any]) -> dict[str, Any]:
    return {"status": data.get("status")}


FACTS: tuple[tuple[str, type[Fact], Values], ...] = (
    ("contact", ContactFact, no_values),
    ("deal", DealFact, deal_values),
    ("ticket", TicketFact, ticket_values),
    ("campaign", CampaignFact, no_values),
)


def handlers() -> dict[str, Handler]:
    """Event type -> handler; types not listed (stage_changed, status_changed, ...) are skipped."""
    out: dict[str, Handler] = {}
    for aggregate, model, values in FACTS:
        out[f"crm.{aggregate}.created"] = out[f"crm.{aggregate}.updated"] = upsert(model, values)
        out[f"crm.{aggregate}.deleted"] = tombstone(model)
    # Erasure is a delete for counting; the facts hold no personal data to scrub. The ids merged
    # into the erased contact go too (their merges' tombstones may not have arrived yet).
    out["crm.contact.erased"] = erased(ContactFact)
    # The primary absorbs the secondary, which stops existing; the primary's own events follow.
    out["crm.contact.merged"] = tombstone(ContactFact, lambda e: e.data["secondary_id"])
    return out


def consumer_specs(_settings: Settings, _db: Database) -> list[ConsumerSpec]:
    return [ConsumerSpec(GROUP, TOPICS, handlers())]
