"""Consumer automation.workflows: every event of the platform may start runs (event triggers)
and end waits (wait_for_event). The runner has set the event's tenant and dedupes redeliveries;
a run's trigger key (the event id) dedupes once more, so no event starts a workflow twice.

Conditions are asked of the owning service (the record's own list filter), so a condition means
what the same text means in the console's list, custom fields included.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from automation.workflows import runs
from automation.workflows.client import ServiceApi
from automation.workflows.definition import Definition, record_type_of
from automation.workflows.models import WAITING, Workflow, WorkflowRun, WorkflowWait
from automation.workflows.steps import ActionRegistry
from crm_db.base import utcnow
from crm_events.envelope import Event

# Fields of an event's data naming the records it is also about: a wait for "the contact
# replied" matches a crm.activity.created whose contact_id is the run's record.
LINKS = ("contact_id", "company_id", "deal_id", "ticket_id")
# crm.mail.received names no contact (mail routes by mailbox, not by sender): it is about the
# contacts whose address sent it, asked of contacts only when some run waits for mail.
MAIL_RECEIVED = "crm.mail.received"
MAX_SENDER_CONTACTS = 20


def _event_time(event: Event) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(event.time.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None


class Triggers:
    def __init__(self, api: ServiceApi, actions: ActionRegistry, limits: runs.Limits,
                 now: Callable[[], dt.datetime] = utcnow) -> None:
        self.api, self.actions, self.limits, self.now = api, actions, limits, now

    def on_event(self, session: Session, event: Event) -> None:
        self._end_waits(session, event)
        self._start_runs(session, event)

    def _start_runs(self, session: Session, event: Event) -> None:
        workflows = session.scalars(select(Workflow).where(
            Workflow.trigger_event == event.type, Workflow.enabled.is_(True), Workflow.trigger_type == "event")).all()
        for workflow in workflows:
            definition = runs.definition_for_workflow(session, workflow, self.actions)
            if not self._starts(definition, event):
                continue
            record_type = record_type_of(event.type)
            runs.start_run(session, workflow, definition, trigger_key=f"event:{event.id}", trigger=event.to_dict(),
                           record_type=record_type, record_id=event.subject if record_type else None,
                           causation=list(getattr(event, "causation", None) or []), now=self.now(),
                           limits=self.limits, event_time=_event_time(event))

    def _starts(self, definition: Definition, event: Event) -> bool:
        trigger = definition.trigger
        origin = getattr(event, "origin", None)
        if origin and origin in (trigger.get("exclude_sources") or ()):
            return False
        changes: dict[str, Any] = event.data.get("changes") or {}
        if trigger.get("changed") and not any(f in changes for f in trigger["changed"]):
            return False
        for field, value in (trigger.get("changed_to") or {}).items():
            change = changes.get(field)
            # "changed to": this update moved it there, not merely "it is" (Pipedrive's distinction).
            if not isinstance(change, list | tuple) or len(change) != 2 or change[1] != value or change[0] == value:
                return False
        condition = trigger.get("condition")
        record_type = record_type_of(event.type)
        if condition and record_type:
            return self.api.matches(event_tenant(event), record_type, event.subject, condition)
        return True

    def _end_waits(self, session: Session, event: Event) -> None:
        about = {event.subject, *(str(event.data[k]) for k in LINKS if event.data.get(k))}
        if event.type == MAIL_RECEIVED:
            about |= self._senders(session, event)
        waits = session.scalars(select(WorkflowWait).where(
            WorkflowWait.event_type == event.type, WorkflowWait.record_id.in_(sorted(about)))).all()
        for wait in waits:
            run = session.scalars(select(WorkflowRun).where(WorkflowRun.id == wait.run_id).with_for_update()).first()
            if run is None or run.status != WAITING or run.wait_token != wait.wait_token:
                continue
            if wait.condition:
                record_type = record_type_of(event.type)
                if record_type and not self.api.matches(event_tenant(event), record_type, event.subject, wait.condition):
                    continue
            runs.wake(session, run, run.current_step or "end", self.now(),
                      output={"event_id": event.id, "event_type": event.type, "by": "event"})

    def _senders(self, session: Session, event: Event) -> set[str]:
        """Ids of the contacts whose email sent this mail (none looked up when no run waits for mail)."""
        sender = event.data.get("from") if isinstance(event.data.get("from"), dict) else {}
        address = str(sender.get("address") or "").strip()
        if not address or session.scalars(select(WorkflowWait.id).where(
                WorkflowWait.event_type == MAIL_RECEIVED).limit(1)).first() is None:
            return set()
        quoted = address.replace("'", "''")  # the sender is anyone's text
        return set(self.api.select_ids(event_tenant(event), "contact", f"email = '{quoted}'", MAX_SENDER_CONTACTS))


def event_tenant(event: Event) -> uuid.UUID:
    return uuid.UUID(event.tenant_id)
