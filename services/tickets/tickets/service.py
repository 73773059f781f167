"""Ticket use cases: status workflow, resolved_at, and the status_changed event."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from crm_core.errors import validation_error
from crm_db.base import utcnow
from crm_events.records import RecordService
from tickets.models import DONE_STATUSES, Ticket

# after_update runs before the generic updated event is written; the status change waits here
# (per session, so concurrent requests never see each other's) until update() can emit it after.
_PENDING_STATUS_CHANGE = "tickets.pending_status_change"


class TicketService(RecordService[Ticket]):
    model = Ticket
    aggregate = "ticket"

    def before_create(self, session: Session, values: dict[str, Any]) -> None:
        if values.get("status") in DONE_STATUSES:
            values["resolved_at"] = utcnow()

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

    def after_update(self, session: Session, record: Ticket, changes: dict[str, list[Any]]) -> None:
        if "status" in changes:
            session.info[_PENDING_STATUS_CHANGE] = changes["status"]

    def update(self, session: Session, record_id: uuid.UUID, values: dict[str, Any],
               expected_version: int | None = None) -> Ticket:
        record = super().update(session, record_id, values, expected_version)
        change = session.info.pop(_PENDING_STATUS_CHANGE, None)
        if change is not None:
            before, after = change
            self.outbox.emit(session, "crm.ticket.status_changed", record.id,
                             {**self.serialize(record), "from": before, "to": after})
        return record
