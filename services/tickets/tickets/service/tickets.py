"""Ticket use cases: numbers, status workflow, resolved_at / closed_at, the status_changed event,
and the hooks every area of the desk adds to a ticket's creation and changes (service/hooks.py)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from crm_core import context
from crm_core.errors import validation_error
from crm_core.settings import Settings
from crm_db.base import utcnow
from crm_db.database import Database
from crm_events.outbox import Outbox
from crm_events.records import RecordService
from crm_runtime.cli import BackgroundLoop, ConsumerSpec
from tickets.models import DONE_STATUSES, Ticket, TicketCounter
from tickets.service.hooks import TicketHooks

if TYPE_CHECKING:
    from collections.abc import Callable

    from tickets.service.desk import Desk

# after_update runs before the generic updated event is written; the status change waits here
# (per session, so concurrent requests never see each other's) until update() can emit it after.
_PENDING_STATUS_CHANGE = "tickets.pending_status_change"
FIRST_NUMBER = 1001


def next_number(session: Session) -> int:
    """The tenant's next ticket number. The UPDATE takes the counter row's lock, so concurrent
    creates queue behind each other until commit and never share a number (SQLite: one writer)."""
    tenant = context.require_tenant()
    counter = TicketCounter.__table__
    number = session.execute(
        update(counter).where(counter.c.tenant_id == tenant)
        .values(next_number=counter.c.next_number + 1).returning(counter.c.next_number)
    ).scalar()
    if number is None:
        session.execute(insert(counter).values(tenant_id=tenant, next_number=FIRST_NUMBER + 1))
        return FIRST_NUMBER
    return int(number) - 1


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
        self.hooks.on_created(session, record)
        session.flush()
        self.outbox.emit(session, "crm.ticket.created", record.id, self.body(session, record))
        return record

    def before_update(self, session: Session, record: Ticket, values: dict[str, Any]) -> None:
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
            session.info[_PENDING_STATUS_CHANGE] = changes["status"]
        self.hooks.on_changed(session, record, changes)

    def update(self, session: Session, record_id: uuid.UUID, values: dict[str, Any],
               expected_version: int | None = None) -> Ticket:
        record = super().update(session, record_id, values, expected_version)
        change = session.info.pop(_PENDING_STATUS_CHANGE, None)
        if change is not None:
            before, after = change
            self.outbox.emit(session, "crm.ticket.status_changed", record.id,
                             {**self.serialize(record), "from": before, "to": after})
        return record


def install(desk: Desk) -> None:
    """Registers the core area's ticket hooks (desk.hooks)."""


def consumers(settings: Settings, db: Database) -> list[ConsumerSpec]:
    """The core area's event consumers (run by the worker)."""
    return []


def background(settings: Settings, db: Database) -> list[BackgroundLoop]:
    """The core area's background loops (run by the worker)."""
    return []
