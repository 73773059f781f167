"""Task use cases: a task is about a deal or a contact (or both) and records when it was completed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.errors import validation_error
from crm_db.base import utcnow
from crm_events.records import RecordService
from pipeline.models import Deal, Task


class TaskService(RecordService[Task]):
    model = Task
    aggregate = "task"

    def _check_subject(self, session: Session, values: dict[str, Any], record: Task | None) -> None:
        deal_id = values["deal_id"] if "deal_id" in values else (record.deal_id if record else None)
        contact_id = values["contact_id"] if "contact_id" in values else (record.contact_id if record else None)
        if deal_id is None and contact_id is None:
            raise validation_error({"deal_id": ["Give at least one of: deal_id, contact_id."]})
        # Scoped to the tenant: another tenant's deal does not exist here. Contacts live in another
        # service and are not checked.
        if values.get("deal_id") is not None and session.scalars(select(Deal.id).where(Deal.id == deal_id)).first() is None:
            raise validation_error({"deal_id": [f"No deal with id {deal_id}."]})

    def before_create(self, session: Session, values: dict[str, Any]) -> None:
        self._check_subject(session, values, None)
        if values.get("done"):
            values["completed_at"] = utcnow()

    def create(self, session: Session, values: dict[str, Any]) -> Task:
        task = super().create(session, values)
        if task.done:
            self.outbox.emit(session, "crm.task.completed", task.id, self.serialize(task))
        return task

    def before_update(self, session: Session, record: Task, values: dict[str, Any]) -> None:
        self._check_subject(session, values, record)
        if "done" in values and values["done"] != record.done:
            values["completed_at"] = utcnow() if values["done"] else None

    def after_update(self, session: Session, record: Task, changes: dict[str, list[Any]]) -> None:
        if changes.get("done") == [False, True]:
            self.outbox.emit(session, "crm.task.completed", record.id, self.serialize(record))
