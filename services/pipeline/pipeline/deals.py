"""Deal use cases: a deal sits in a stage of its pipeline and its status is that stage's kind.

Moving a deal to a won/lost stage wins/loses it; setting the status moves it to the pipeline's
won/lost stage. Every stage change is written to the deal's history.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crm_core import context
from crm_core.errors import validation_error
from crm_core.metrics import metrics
from crm_db.base import utcnow
from crm_events.outbox import Outbox
from crm_events.records import RecordService
from pipeline.models import Deal, DealCounter, DealStageHistory, Pipeline, PipelineStage, Task
from pipeline.service import PipelineService, default_pipeline
from pipeline.tasks import TaskService


def next_deal_number(session: Session) -> int:
    """The tenant's next deal number. The counter row stays locked until the transaction ends, so
    concurrent creations in one tenant queue here for a moment and never share a number."""
    table = DealCounter.__table__
    dialect_insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = dialect_insert(table).values(tenant_id=context.require_tenant(), last_number=1)
    stmt = stmt.on_conflict_do_update(index_elements=["tenant_id"], set_={"last_number": table.c.last_number + 1})
    return int(session.execute(stmt.returning(table.c.last_number)).scalar_one())


def _count_won(_session: Session) -> None:
    metrics().deals_won.inc()


class DealService(RecordService[Deal]):
    model = Deal
    aggregate = "deal"

    def __init__(self, outbox: Outbox, serialize: Callable[[Deal], dict[str, Any]], tasks: TaskService,
                 pipelines: PipelineService) -> None:
        super().__init__(outbox, serialize)
        self.tasks = tasks
        self.pipelines = pipelines

    def _pipeline(self, session: Session, values: dict[str, Any], record: Deal | None) -> Pipeline:
        pipeline_id = values.get("pipeline_id", record.pipeline_id if record else None)
        if pipeline_id is None:
            # A tenant whose tenant.created event is still on its way (the first seconds after
            # signup) gets its default pipeline now; the consumer then finds it and does nothing.
            found = default_pipeline(session) or self.pipelines.create_default_pipeline(session, context.require_tenant())
            if found is None:
                raise validation_error({"pipeline_id": ["There is no default pipeline: name one."]})
            return found
        # Scoped to the tenant like every query: another tenant's pipeline is not found.
        found = session.scalars(select(Pipeline).where(Pipeline.id == pipeline_id)).first()
        if found is None:
            raise validation_error({"pipeline_id": [f"No pipeline with id {pipeline_id}."]})
        return found

    def _stage(self, values: dict[str, Any], record: Deal | None, pipeline: Pipeline) -> PipelineStage | None:
        """The stage the deal goes to, or None when nothing about its placement changes."""
        moved = record is None or pipeline.id != record.pipeline_id
        if values.get("stage_id") is not None:
            stage = next((s for s in pipeline.stages if s.id == values["stage_id"]), None)
            if stage is None:
                raise validation_error({"stage_id": [f"Not a stage of pipeline {pipeline.id}."]})
            if values.get("status", stage.kind) != stage.kind:
                raise validation_error({"status": [f"A deal in stage {stage.name!r} is {stage.kind}."]})
            return stage
        if "status" not in values and not moved:
            return None
        status = values.get("status") or (record.status if record else "open")
        current = None if moved or record is None else next((s for s in pipeline.stages if s.id == record.stage_id), None)
        stage = current if current is not None and current.kind == status else pipeline.first_stage(status)
        if stage is None:
            field = "status" if "status" in values else "pipeline_id"
            raise validation_error({field: [f"Pipeline {pipeline.name!r} has no {status} stage."]})
        return stage

    def _place(self, session: Session, values: dict[str, Any], record: Deal | None) -> None:
        pipeline = self._pipeline(session, values, record)
        stage = self._stage(values, record, pipeline)
        if stage is None:
            return
        values.update(pipeline_id=pipeline.id, stage_id=stage.id, status=stage.kind, probability=stage.probability)
        close = values["expected_close_date"] if "expected_close_date" in values else (
            record.expected_close_date if record else None)
        if stage.kind != "open" and close is None:
            values["expected_close_date"] = dt.datetime.now(dt.UTC).date()

    def _record_move(self, session: Session, deal: Deal, from_stage: uuid.UUID | None) -> None:
        principal = context.current_principal()
        session.add(DealStageHistory(deal_id=deal.id, from_stage_id=from_stage, to_stage_id=deal.stage_id,
                                     changed_by=principal.user_id if principal else None))
        if from_stage is not None:
            data = {**self.serialize(deal), "from_stage_id": str(from_stage), "to_stage_id": str(deal.stage_id)}
            self.outbox.emit(session, "crm.deal.stage_changed", deal.id, data)

    def _record_outcome(self, session: Session, deal: Deal) -> None:
        self.outbox.emit(session, f"crm.deal.{deal.status}", deal.id, self.serialize(deal))
        if deal.status == "won":
            # Counted once the win is committed: a rolled-back request wins nothing.
            event.listen(session, "after_commit", _count_won, once=True)

    def before_create(self, session: Session, values: dict[str, Any]) -> None:
        self._place(session, values, None)
        values["number"] = next_deal_number(session)
        values.setdefault("position", utcnow().timestamp())  # a new card goes to the end of its stage

    def create(self, session: Session, values: dict[str, Any]) -> Deal:
        deal = super().create(session, values)
        self._record_move(session, deal, None)
        if deal.status != "open":
            self._record_outcome(session, deal)
        return deal

    def before_update(self, session: Session, record: Deal, values: dict[str, Any]) -> None:
        self._place(session, values, record)

    def after_update(self, session: Session, record: Deal, changes: dict[str, list[Any]]) -> None:
        if "stage_id" in changes:
            self._record_move(session, record, uuid.UUID(changes["stage_id"][0]))
        if "status" in changes and record.status != "open":
            self._record_outcome(session, record)

    def before_delete(self, session: Session, record: Deal) -> None:
        # The deal's tasks go with it, except those that also name a contact: they stay, unlinked.
        for task in session.scalars(select(Task).where(Task.deal_id == record.id)).all():
            if task.contact_id is not None:
                self.tasks.update(session, task.id, {"deal_id": None})
            else:
                self.tasks.delete(session, task.id)
