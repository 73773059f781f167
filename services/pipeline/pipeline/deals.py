"""Deal use cases: a deal sits in a stage of its pipeline and its status is that stage's kind.

Moving a deal to a won/lost stage wins/loses it; setting the status moves it to the pipeline's
won/lost stage. On top of its placement a deal carries:

- probability and forecast_category: the stage's unless set on the deal (`*_is_manual`, kept on
  stage moves; null goes back to the stage's); won and lost deals are always "closed".
- won_at / lost_at / closed_at, set when the status changes and cleared when it is reopened;
  lost_reason (one of the tenant's /v1/settings/pipeline lost_reasons) is required to lose a deal
  unless the settings say lost_reason_required: false.
- amount_in_base at the tenant's exchange rates (pipeline.exchange_rates), written with the amount.
- contacts with roles (the first is contact_id), custom fields (pipeline.deal_properties) and a
  card position within its stage (`position`, or `before_id` / `after_id` a card of the stage).

Every stage change and every change of a logged field goes to the change log (pipeline.history).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crm_core import context
from crm_core.errors import validation_error
from crm_core.metrics import metrics
from crm_db.base import utcnow
from crm_events.outbox import Outbox
from crm_events.records import RecordService
from pipeline.deal_activity import rots_at
from pipeline.deal_properties import check_deal_values
from pipeline.exchange_rates import to_base
from pipeline.history import DealHistory
from pipeline.models import Deal, DealCounter, Pipeline, PipelineStage, Task
from pipeline.models.sales import DealContact
from pipeline.service import PipelineService, default_pipeline
from pipeline.settings import current_settings
from pipeline.tasks import TaskService

# A values key the line-item use cases pass when they write the amount they computed.
FROM_LINE_ITEMS = "_from_line_items"
_PREVIOUS_ENTRY = "pipeline_previous_stage_entry"  # session.info: deal id -> when it entered the stage it leaves


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


def _contacts(given: list[dict[str, Any]], current: list[DealContact]) -> list[DealContact]:
    """The new contact list, reusing the rows of contacts that stay (a contact is on a deal once)."""
    existing = {c.contact_id: c for c in current}
    rows, seen = [], set()
    for i, item in enumerate(given):
        if item["contact_id"] in seen:
            raise validation_error({f"contacts.{i}.contact_id": ["Listed twice."]})
        seen.add(item["contact_id"])
        row = existing.get(item["contact_id"]) or DealContact(contact_id=item["contact_id"])
        row.role, row.position = item.get("role", "other"), i
        rows.append(row)
    return rows


class DealService(RecordService[Deal]):
    model = Deal
    aggregate = "deal"

    def __init__(self, outbox: Outbox, serialize: Callable[[Deal], dict[str, Any]], tasks: TaskService,
                 pipelines: PipelineService, now: Callable[[], dt.datetime] = utcnow) -> None:
        super().__init__(outbox, serialize)
        self.tasks = tasks
        self.pipelines = pipelines
        self.history = DealHistory(outbox, serialize)
        self.now = now

    # --- placement -------------------------------------------------------------------------------

    def _pipeline(self, session: Session, values: dict[str, Any], record: Deal | None) -> Pipeline:
        pipeline_id = values.get("pipeline_id", record.pipeline_id if record else None)
        if pipeline_id is None:
            # A tenant whose tenant.created event is still on its way (the first seconds after
            # signup) gets its default pipeline now; the consumer then finds it and does nothing.
            # Made by someone else meanwhile (the consumer, a first list or deal committing while
            # we looked), the claim finds their row and makes none: read it again then.
            found = default_pipeline(session) or self.pipelines.create_default_pipeline(session, context.require_tenant()) \
                or default_pipeline(session)
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
            if stage.archived_at is not None and (record is None or record.stage_id != stage.id):
                raise validation_error({"stage_id": [f"Stage {stage.name!r} is archived: it takes no new deals."]})
            return stage
        if "status" not in values and not moved:
            return None
        status = values.get("status") or (record.status if record else "open")
        current = None if moved or record is None else next((s for s in pipeline.stages if s.id == record.stage_id), None)
        stage = current if current is not None and current.kind == status else pipeline.first_stage(status)
        if stage is None:
            field = "status" if "status" in values else "pipeline_id"
            raise validation_error({field: [f"Pipeline {pipeline.name!r} has no {status} stage that takes deals."]})
        return stage

    def _place(self, session: Session, values: dict[str, Any], record: Deal | None, reset: set[str]) -> None:
        pipeline = self._pipeline(session, values, record)
        moved_to = self._stage(values, record, pipeline)
        target = moved_to or next(s for s in pipeline.stages if s.id == record.stage_id)  # type: ignore[union-attr]
        now = self.now()
        entered = record is None or (moved_to is not None and moved_to.id != record.stage_id)
        if moved_to is not None:
            values.update(pipeline_id=pipeline.id, stage_id=moved_to.id, status=moved_to.kind)
        if entered:
            values["stage_entered_at"] = now
            if record is not None:
                session.info.setdefault(_PREVIOUS_ENTRY, {})[record.id] = record.stage_entered_at
        status = values.get("status", record.status if record else "open")

        def current(name: str, default: Any) -> Any:
            return values[name] if name in values else getattr(record, name) if record is not None else default

        if not current("probability_is_manual", False) and (moved_to is not None or "probability" in reset):
            values["probability"] = target.probability
        self._forecast(values, record, status, target, moved_to is not None or "forecast_category" in reset, current)
        self._outcome(session, values, record, status, now, current)
        close = current("expected_close_date", None)
        if status != "open" and close is None:
            values["expected_close_date"] = now.date()
        if entered or "status" in values:
            values["rots_at"] = rots_at(status, target.rotten_days, current("stage_entered_at", now),
                                        record.last_activity_at if record else None)

    def _forecast(self, values: dict[str, Any], record: Deal | None, status: str, stage: PipelineStage, restage: bool,
                  current: Callable[[str, Any], Any]) -> None:
        given = values.get("forecast_category") if values.get("forecast_category_is_manual") else None
        if status != "open":
            if given is not None and given != "closed":
                raise validation_error({"forecast_category": [f"A {status} deal is in the closed category."]})
            values["forecast_category"] = "closed"
            return
        if given == "closed":
            raise validation_error({"forecast_category": ["closed is for won and lost deals."]})
        manual = current("forecast_category_is_manual", False)
        if manual and given is None and current("forecast_category", "pipeline") == "closed":
            values["forecast_category_is_manual"] = manual = False  # a reopened deal: back to its stage's
            restage = True
        if not manual and (restage or (record is not None and record.status != "open")):
            values["forecast_category"] = stage.forecast_category

    def _outcome(self, session: Session, values: dict[str, Any], record: Deal | None, status: str, now: dt.datetime,
                 current: Callable[[str, Any], Any]) -> None:
        """won/lost/closed timestamps and the lost reason."""
        was = record.status if record is not None else None
        settings = current_settings(session)
        reasons = settings.lost_reasons
        if values.get("lost_reason") is not None:
            if status != "lost":
                raise validation_error({"lost_reason": ["Only a lost deal has a lost reason."]})
            found = next((r for r in reasons if r.casefold() == values["lost_reason"].casefold()), None)
            if found is None:
                raise validation_error({"lost_reason": [f"Use one of the tenant's lost reasons: {', '.join(reasons)}."]})
            values["lost_reason"] = found
        if values.get("lost_note") and status != "lost":
            raise validation_error({"lost_note": ["Only a lost deal has a lost note."]})
        # Required to lose a deal (unless the tenant says otherwise), and a lost deal keeps one (deals
        # lost before reasons existed may have none).
        if (settings.lost_reason_required and status == "lost" and (was != "lost" or "lost_reason" in values)
                and current("lost_reason", None) is None):
            raise validation_error({"lost_reason": [f"Required to lose a deal; one of: {', '.join(reasons)}."]})
        if status == was:
            return
        values.update(won_at=now if status == "won" else None, lost_at=now if status == "lost" else None,
                      closed_at=now if status != "open" else None)
        if status != "lost":
            values.update(lost_reason=None, lost_note=None)

    def _position(self, session: Session, values: dict[str, Any], record: Deal | None, before_id: Any, after_id: Any) -> None:
        """A card position from a neighbour: halfway to the next card on that side (or one step past the end)."""
        stage_id = values.get("stage_id", record.stage_id if record else None)
        neighbour_id = before_id or after_id
        if neighbour_id is not None:
            field = "before_id" if before_id else "after_id"
            neighbour = session.scalars(select(Deal).where(Deal.id == neighbour_id)).first()
            if neighbour is None or neighbour.stage_id != stage_id or (record is not None and neighbour.id == record.id):
                raise validation_error({field: ["Not another deal of the deal's stage."]})
            others = select(Deal.position).where(Deal.stage_id == stage_id, Deal.id != neighbour.id)
            if record is not None:
                others = others.where(Deal.id != record.id)
            if before_id:
                side = session.scalar(others.where(Deal.position < neighbour.position).order_by(Deal.position.desc()).limit(1))
                values["position"] = (side + neighbour.position) / 2 if side is not None else neighbour.position - 1
            else:
                side = session.scalar(others.where(Deal.position > neighbour.position).order_by(Deal.position).limit(1))
                values["position"] = (side + neighbour.position) / 2 if side is not None else neighbour.position + 1
        elif "position" not in values and (record is None or values.get("stage_id", record.stage_id) != record.stage_id):
            # A new card, or one moved to another stage, goes to the end of its stage.
            last = session.scalar(select(func.max(Deal.position)).where(Deal.stage_id == stage_id))
            values["position"] = max(float(last or 0) + 1, utcnow().timestamp())

    # --- values ----------------------------------------------------------------------------------

    def _prepare(self, session: Session, values: dict[str, Any], record: Deal | None) -> None:
        from_line_items = values.pop(FROM_LINE_ITEMS, False)
        before_id, after_id = values.pop("before_id", None), values.pop("after_id", None)
        money = "amount" in values or "currency" in values
        if money and record is not None and record.has_line_items and not from_line_items:
            raise validation_error({"amount": ["This deal's amount is the sum of its line items: change those."]})
        reset: set[str] = set()
        for name in ("probability", "forecast_category"):
            if name in values:
                if values[name] is None:
                    del values[name]
                    values[f"{name}_is_manual"] = False
                    reset.add(name)
                else:
                    values[f"{name}_is_manual"] = True
        if "properties" in values or record is None:
            values["properties"] = check_deal_values(session, values.get("properties") or {},
                                                     record.properties if record else None)
        self._contact_values(values, record)
        self._place(session, values, record, reset)
        self._position(session, values, record, before_id, after_id)
        if money or record is None:
            values["amount_in_base"] = to_base(session, values.get("amount"), values.get("currency"))

    def _contact_values(self, values: dict[str, Any], record: Deal | None) -> None:
        current = list(record.contacts) if record is not None else []
        if "contacts" in values:
            given = values.pop("contacts")
            if "contact_id" in values and values["contact_id"] != (given[0]["contact_id"] if given else None):
                raise validation_error({"contact_id": ["Give contacts or contact_id: contact_id is the first of contacts."]})
        elif "contact_id" in values:
            # contact_id alone makes that contact the primary one (None: drops the primary one).
            others = current if values["contact_id"] else current[1:]
            rest = [{"contact_id": c.contact_id, "role": c.role} for c in others if c.contact_id != values["contact_id"]]
            keep = next((c.role for c in current if c.contact_id == values["contact_id"]), "other")
            given = ([{"contact_id": values["contact_id"], "role": keep}] if values["contact_id"] else []) + rest
        else:
            return
        rows = _contacts(given, current)
        values["contacts"] = rows
        values["contact_id"] = rows[0].contact_id if rows else None

    # --- hooks -----------------------------------------------------------------------------------

    def _record_outcome(self, session: Session, deal: Deal) -> None:
        self.outbox.emit(session, f"crm.deal.{deal.status}", deal.id, self.body(session, deal))
        if deal.status == "won":
            # Counted once the win is committed: a rolled-back request wins nothing.
            event.listen(session, "after_commit", _count_won, once=True)

    def fast_create(self, session: Session) -> bool:
        return False

    def before_create(self, session: Session, values: dict[str, Any]) -> None:
        self._prepare(session, values, None)
        values["number"] = next_deal_number(session)

    def create(self, session: Session, values: dict[str, Any]) -> Deal:
        deal = super().create(session, values)
        self.history.stage_entered(session, deal, None, None)
        if deal.status != "open":
            self._record_outcome(session, deal)
        return deal

    def before_update(self, session: Session, record: Deal, values: dict[str, Any]) -> None:
        self._prepare(session, values, record)

    def after_update(self, session: Session, record: Deal, changes: dict[str, list[Any]]) -> None:
        body = self.body(session, record)
        if "stage_id" in changes:
            previous = session.info.get(_PREVIOUS_ENTRY, {}).pop(record.id, None)
            self.history.stage_entered(session, record, uuid.UUID(changes["stage_id"][0]), previous, body)
        self.history.fields_changed(session, record, changes, body)
        if "status" in changes and record.status != "open":
            self._record_outcome(session, record)

    def before_delete(self, session: Session, record: Deal) -> None:
        # The deal's tasks go with it, except those that also name a contact: they stay, unlinked.
        for task in session.scalars(select(Task).where(Task.deal_id == record.id)).all():
            if task.contact_id is not None:
                self.tasks.update(session, task.id, {"deal_id": None})
            else:
                self.tasks.delete(session, task.id)

    def move(self, session: Session, deal_id: uuid.UUID, stage_id: uuid.UUID) -> None:
        """Move a deal to another stage as a user would (history, events), e.g. out of a stage being deleted."""
        self.update(session, deal_id, {"stage_id": stage_id})
