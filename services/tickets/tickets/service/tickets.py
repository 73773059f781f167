"""Ticket use cases: numbers, the requester (matched to a contact), status workflow with the
tenant's own statuses, resolved_at / closed_at, auto-close, custom fields, the status_changed
event, and the hooks every area of the desk adds to a ticket's creation and changes
(service/hooks.py).

Requesters: a ticket with a `requester_email` and no `contact_id` gets the contact of that address
from the contact projection (ticket_contacts, fed by crm.contact.* events) at creation. When there
is none, the contacts service creates it on crm.ticket.created and its crm.contact.created comes
back here, where the consumer links the open tickets of that address (service/requesters.py).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from crm_core import context
from crm_core.errors import validation_error
from crm_core.settings import Settings
from crm_db.base import as_utc, utcnow
from crm_db.database import Database
from crm_db.timers import Timer, Timers, TimerScheduler
from crm_events.outbox import Outbox
from crm_events.records import RecordService
from crm_runtime.cli import BackgroundLoop, ConsumerSpec
from tickets.models import (
    DEFAULT_AUTO_CLOSE_DAYS,
    DONE_STATUSES,
    STATUS_ALIASES,
    Ticket,
    TicketContact,
    TicketCounter,
    TicketSettingsRow,
    metadata,
    timers,
)
from tickets.service.hooks import TicketHooks
from tickets.service.properties import check_ticket_values

if TYPE_CHECKING:
    from tickets.service.desk import Desk

# after_update runs before the generic updated event is written; the status change waits here
# (per session, so concurrent requests never see each other's) until update() can emit it after.
_PENDING_STATUS_CHANGE = "tickets.pending_status_change"
_SETTINGS = "tickets.settings"  # session.info: the tenant's TicketSettings, read once per transaction
FIRST_NUMBER = 1001
AUTO_CLOSE = "auto_close"  # the timer kind (crm_db.timers) of a resolved ticket's closing
TIMERS = Timers(timers)


# --- settings ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class CustomStatus:
    key: str
    label: str
    base: str  # one of STATUSES


@dataclass(frozen=True)
class TicketSettings:
    """A tenant's desk settings as the use cases read them (the defaults while none are stored)."""

    statuses: tuple[CustomStatus, ...] = ()
    auto_close_days: int = DEFAULT_AUTO_CLOSE_DAYS  # 0: never
    portal_company_tickets: bool = False  # portal requesters see their company's tickets too

    def status(self, key: str) -> CustomStatus | None:
        return next((s for s in self.statuses if s.key == key), None)

    def as_dict(self) -> dict[str, Any]:
        return {"statuses": [{"key": s.key, "label": s.label, "base": s.base} for s in self.statuses],
                "auto_close_days": self.auto_close_days, "portal_company_tickets": self.portal_company_tickets}


def _settings_of(row: TicketSettingsRow | None) -> TicketSettings:
    if row is None:
        return TicketSettings()
    return TicketSettings(tuple(CustomStatus(s["key"], s["label"], s["base"]) for s in row.statuses or []),
                          int(row.auto_close_days), bool(row.portal_company_tickets))


def ticket_settings(session: Session) -> TicketSettings:
    """The current tenant's desk settings, read once per transaction."""
    found = session.info.get(_SETTINGS)
    if found is None:
        found = session.info[_SETTINGS] = _settings_of(session.get(TicketSettingsRow, context.require_tenant()))
    return found


def update_settings(session: Session, outbox: Outbox, values: dict[str, Any]) -> TicketSettings:
    """PATCH /v1/settings/tickets. A custom status still on tickets can't be dropped or moved to
    another base (422 naming it); a changed auto_close_days re-plans the resolved tickets' closing."""
    tenant = context.require_tenant()
    row = session.get(TicketSettingsRow, tenant, with_for_update=True)
    before = _settings_of(row)
    if row is None:
        row = TicketSettingsRow(tenant_id=tenant, statuses=[], auto_close_days=DEFAULT_AUTO_CLOSE_DAYS,
                                portal_company_tickets=False)
        session.add(row)
    if "statuses" in values:
        wanted = {s["key"]: s["base"] for s in values["statuses"]}
        moved = [s.key for s in before.statuses if wanted.get(s.key) != s.base]
        if moved:
            in_use = session.scalars(select(Ticket.custom_status).where(Ticket.custom_status.in_(moved)).limit(1)).first()
            if in_use is not None:
                raise validation_error({"statuses": [f"Tickets are in status {in_use!r}: keep it (with its base) "
                                                     "until they move on."]})
        row.statuses = [{"key": s["key"], "label": s["label"], "base": s["base"]} for s in values["statuses"]]
    if "auto_close_days" in values:
        row.auto_close_days = values["auto_close_days"]
    if "portal_company_tickets" in values:
        row.portal_company_tickets = values["portal_company_tickets"]
    numbering = _move_numbering(session, values["next_number"]) if "next_number" in values else None
    session.flush()
    after = session.info[_SETTINGS] = _settings_of(row)
    if after.auto_close_days != before.auto_close_days:
        replan_auto_close(session, after.auto_close_days)
    old, new = before.as_dict(), after.as_dict()
    changes = {k: [old[k], new[k]] for k in new if old[k] != new[k]}
    if numbering is not None and numbering[0] != numbering[1]:
        changes["next_number"] = list(numbering)
    if changes:
        # The body is what GET /v1/settings/tickets answers, next_number included.
        outbox.emit(session, "crm.ticket_settings.updated", tenant, settings_body(session, after), changes=changes)
    return after


# --- normal forms ------------------------------------------------------------------------------

_SPACES = re.compile(r"\s+")


def normalise_tags(tags: list[str]) -> list[str]:
    """Trimmed, inner white space folded, lower case, de-duplicated, order kept, empty ones
    dropped: `VIP `, `vip` and `Vip` are one tag."""
    return [t for t in dict.fromkeys(_SPACES.sub(" ", t.strip()).lower() for t in tags) if t]


def normalise_values(values: dict[str, Any]) -> None:
    """What every write stores the same way, whoever calls (the API's schema, an email consumer,
    the portal): the requester's address lower-cased, tags normalised, status aliases resolved."""
    if values.get("requester_email"):
        values["requester_email"] = str(values["requester_email"]).strip().lower()
    if isinstance(values.get("requester_name"), str):
        values["requester_name"] = values["requester_name"].strip() or None
    if values.get("tags") is not None:
        values["tags"] = normalise_tags(list(values["tags"]))
    if isinstance(values.get("status"), str):
        values["status"] = STATUS_ALIASES.get(values["status"], values["status"])


# --- numbers -----------------------------------------------------------------------------------

def next_number(session: Session) -> int:
    """The tenant's next ticket number. The UPDATE takes the counter row's lock, so concurrent
    creates queue behind each other until commit and never share a number (SQLite: one writer)."""
    tenant = context.require_tenant()
    counter = TicketCounter.__table__
    # One upsert: two concurrent first tickets of a tenant must not both INSERT the row (the
    # loser's unique violation was a 409); the conflict path takes the row lock like an UPDATE.
    insert_stmt = (pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert)(counter)
    number = session.execute(
        insert_stmt.values(tenant_id=tenant, next_number=FIRST_NUMBER + 1)
        .on_conflict_do_update(index_elements=[counter.c.tenant_id],
                               set_={"next_number": counter.c.next_number + 1})
        .returning(counter.c.next_number)
    ).scalar_one()
    return int(number) - 1


def upcoming_number(session: Session) -> int:
    """The number the tenant's next ticket gets."""
    found = session.get(TicketCounter, context.require_tenant())
    return int(found.next_number) if found is not None else FIRST_NUMBER


def _move_numbering(session: Session, wanted: int) -> tuple[int, int]:
    """Numbering continues from `wanted` (a desk moving over keeps its numbers going): forward
    only, since a number is never reused."""
    tenant = context.require_tenant()
    current = session.get(TicketCounter, tenant, with_for_update=True)
    upcoming = int(current.next_number) if current is not None else FIRST_NUMBER
    if wanted < upcoming:
        raise validation_error({"next_number": [f"Numbers are never reused: the next is at least {upcoming}."]})
    if current is None:
        session.add(TicketCounter(tenant_id=tenant, next_number=wanted))
    else:
        current.next_number = wanted
    return upcoming, wanted


def settings_body(session: Session, found: TicketSettings) -> dict[str, Any]:
    return {**found.as_dict(), "next_number": upcoming_number(session)}


# --- requesters --------------------------------------------------------------------------------

def contact_by_email(session: Session, email: str) -> TicketContact | None:
    """The projected contact with this (lower-cased) address, the oldest if several claim it."""
    return session.scalars(select(TicketContact).where(TicketContact.email == email, TicketContact.deleted.is_(False))
                           .order_by(TicketContact.created_at, TicketContact.id).limit(1)).first()


def _projected(session: Session, contact_id: uuid.UUID) -> TicketContact | None:
    return session.scalars(select(TicketContact).where(TicketContact.id == contact_id,
                                                       TicketContact.deleted.is_(False))).first()


def _match_requester(session: Session, values: dict[str, Any], record: Ticket | None) -> None:
    """contact_id (+ company_id) from the projection: an explicit contact_id wins; otherwise the
    contact of requester_email, when that is new. A changed address without a known contact leaves
    the ticket without one until the contacts service has matched or created it."""
    if values.get("contact_id") is not None:
        contact = _projected(session, values["contact_id"])
        values["company_id"] = contact.company_id if contact is not None else None
        if contact is not None and contact.email and not values.get("requester_email") and \
                (record is None or not record.requester_email):
            values["requester_email"] = contact.email
        return
    if "contact_id" in values:  # unlinked explicitly
        values["company_id"] = None
        return
    email = values.get("requester_email")
    if not email or (record is not None and email == record.requester_email):
        return
    contact = contact_by_email(session, email)
    values["contact_id"] = contact.id if contact is not None else None
    values["company_id"] = contact.company_id if contact is not None else None


# --- statuses ----------------------------------------------------------------------------------

def _apply_custom_status(session: Session, values: dict[str, Any], record: Ticket | None) -> None:
    """custom_status sets status to its base; a move to another base status leaves the custom one."""
    key = values.get("custom_status")
    if key is not None:
        found = ticket_settings(session).status(key)
        if found is None:
            raise validation_error({"custom_status": [f"Unknown status {key!r}; define it under /v1/settings/tickets."]})
        if "status" in values and values["status"] != found.base:
            raise validation_error({"status": [f"{key!r} is a {found.base!r} status; leave status out or send {found.base!r}."]})
        values["status"] = found.base
    elif "status" in values and "custom_status" not in values and record is not None and record.custom_status \
            and values["status"] != record.status:
        values["custom_status"] = None


# --- auto-close --------------------------------------------------------------------------------

def plan_auto_close(session: Session, ticket: Ticket) -> None:
    """The ticket's closing timer follows its status: one while resolved (at resolved_at + the
    tenant's days), none otherwise. In the transaction of the status change."""
    TIMERS.cancel(session, AUTO_CLOSE, ticket.id)
    days = ticket_settings(session).auto_close_days
    if ticket.status == "resolved" and days > 0 and ticket.resolved_at is not None:
        TIMERS.schedule(session, AUTO_CLOSE, ticket.id, as_utc(ticket.resolved_at) + dt.timedelta(days=days))


def replan_auto_close(session: Session, days: int) -> int:
    """Every resolved ticket of the tenant re-planned for a new auto_close_days."""
    tenant, t = context.require_tenant(), timers.c
    session.execute(delete(timers).where(t.tenant_id == tenant, t.kind == AUTO_CLOSE, t.fired_at.is_(None)))
    if days <= 0:
        return 0
    rows = session.execute(select(Ticket.id, Ticket.resolved_at).where(Ticket.status == "resolved",
                                                                      Ticket.resolved_at.is_not(None))).all()
    now = utcnow()
    if rows:
        session.execute(insert(timers), [
            {"tenant_id": tenant, "kind": AUTO_CLOSE, "subject_id": r.id, "payload": {}, "created_at": now,
             "attempts": 0, "due_at": as_utc(r.resolved_at) + dt.timedelta(days=days)} for r in rows])
    return len(rows)


# --- the service -------------------------------------------------------------------------------

class TicketService(RecordService[Ticket]):
    model = Ticket
    aggregate = "ticket"

    def __init__(self, outbox: Outbox, serialize: Callable[[Ticket], dict[str, Any]],
                 hooks: TicketHooks | None = None) -> None:
        super().__init__(outbox, serialize)
        self.hooks = hooks or TicketHooks()

    def by_number(self, session: Session, number: int) -> Ticket | None:
        return session.scalars(select(Ticket).where(Ticket.number == number)).first()

    def before_create(self, session: Session, values: dict[str, Any]) -> None:
        normalise_values(values)
        _apply_custom_status(session, values, None)
        _match_requester(session, values, None)
        values["properties"] = check_ticket_values(session, values.get("properties") or {}, None)
        if values.get("status") in DONE_STATUSES:
            values["resolved_at"] = utcnow()
        if values.get("status") == "closed":
            values["closed_at"] = utcnow()
        values["number"] = next_number(session)

    def create(self, session: Session, values: dict[str, Any]) -> Ticket:
        # Not RecordService.create: the hooks (requester, routing, SLA, suggestions) run between
        # the INSERT and the created event, so the event carries what they set.
        self.before_create(session, values)
        record = Ticket(**values)
        session.add(record)
        session.flush()
        if record.status == "resolved":
            plan_auto_close(session, record)
        self.hooks.on_created(session, record)
        session.flush()
        self.outbox.emit(session, "crm.ticket.created", record.id, self.body(session, record))
        return record

    def before_update(self, session: Session, record: Ticket, values: dict[str, Any]) -> None:
        normalise_values(values)
        _apply_custom_status(session, values, record)
        _match_requester(session, values, record)
        if "properties" in values:
            values["properties"] = check_ticket_values(session, values["properties"] or {}, record.properties or {})
        target = values.get("status", record.status)
        if target == record.status:
            return
        if record.status == "closed" and target != "open":
            raise validation_error({"status": ["A closed ticket can only be reopened (status 'open')."]},
                                   detail=f"Cannot move a closed ticket to {target!r}.")
        if target not in DONE_STATUSES:
            values["resolved_at"] = None
        elif record.status not in DONE_STATUSES:
            # resolved -> closed keeps the original time: the ticket was resolved back then.
            values["resolved_at"] = utcnow()
        values["closed_at"] = utcnow() if target == "closed" else None

    def after_update(self, session: Session, record: Ticket, changes: dict[str, list[Any]]) -> None:
        if "status" in changes:
            # Keyed by ticket: a hook's nested update of another ticket must not emit this one.
            session.info.setdefault(_PENDING_STATUS_CHANGE, {})[record.id] = changes["status"]
            plan_auto_close(session, record)
        self.hooks.on_changed(session, record, changes)

    def update(self, session: Session, record_id: uuid.UUID, values: dict[str, Any],
               expected_version: int | None = None) -> Ticket:
        record = super().update(session, record_id, values, expected_version)
        change = session.info.get(_PENDING_STATUS_CHANGE, {}).pop(record.id, None)
        if change is not None:
            before, after = change
            self.outbox.emit(session, "crm.ticket.status_changed", record.id,
                             {**self.serialize(record), "from": before, "to": after})
        return record

    def before_delete(self, session: Session, record: Ticket) -> None:
        TIMERS.cancel(session, AUTO_CLOSE, record.id)


# --- the worker's parts ------------------------------------------------------------------------

def auto_close_handler(desk: Desk) -> Callable[[Session, Timer], None]:
    """Closes a ticket still resolved when its timer fires (through the use case: events, hooks)."""

    def close(session: Session, timer: Timer) -> None:
        ticket = session.scalars(select(Ticket).where(Ticket.id == timer.subject_id)).first()
        if ticket is None or ticket.status != "resolved":
            return  # reopened or gone since (its timer is cancelled with that; belt and braces)
        desk.tickets.update(session, ticket.id, {"status": "closed"})

    return close


def scheduler(settings: Settings, db: Database, now: Callable[[], dt.datetime] = utcnow,
              desk: Desk | None = None) -> TimerScheduler:
    """The core area's timers: auto-close of resolved tickets."""
    from tickets.service.desk import build_desk  # desk.py imports this module

    desk = desk or build_desk(settings, Outbox(settings.service, metadata()))
    batch = int(settings.get("CRM_TIMER_BATCH", "") or 500)
    return TimerScheduler(db, timers, {AUTO_CLOSE: auto_close_handler(desk)}, now=now, batch=batch)


def install(desk: Desk) -> None:
    """Registers the core area's ticket hooks (desk.hooks)."""


def consumers(settings: Settings, db: Database) -> list[ConsumerSpec]:
    """The core area's event consumers (run by the worker): the contact projection and the
    linking of requesters to the contacts that appear for their address."""
    from tickets.service.requesters import requester_consumers

    return requester_consumers(settings, db)


def background(settings: Settings, db: Database) -> list[BackgroundLoop]:
    """The core area's background loops (run by the worker): the auto-close timers."""
    return [scheduler(settings, db).run]
