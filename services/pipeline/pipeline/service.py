"""Pipeline use cases: stage lists, the tenant's default pipeline, and the rules that protect deals."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, case, event, func, null, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crm_core import context
from crm_core.errors import Conflict, validation_error
from crm_db.base import utcnow
from crm_events.records import RecordService
from pipeline.history import log_bulk_changes
from pipeline.models import Deal, Pipeline, PipelineStage, StageSpec, TenantProvisioning

DEFAULT_PIPELINE = "Sales"
DEFAULT_STAGES = (
    StageSpec("Lead", 10, "open"),
    StageSpec("Qualified", 25, "open"),
    StageSpec("Proposal", 50, "open"),
    StageSpec("Negotiation", 75, "open"),
    StageSpec("Won", 100, "won"),
    StageSpec("Lost", 0, "lost"),
)
NEW_STAGE = StageSpec("", 0, "open")
_ROTTEN_BEFORE = "pipeline_stage_rotten_days_before"  # session.info: stage id -> rotten_days before an edit


def rots_at_sql(session: Session, rotten_days: int | None) -> Any:
    """deal_activity.rots_at as SQL over the deals' columns, for bulk updates of one stage's open deals:
    the later of entering the stage and the last activity, plus rotten_days; null when it never rots."""
    if rotten_days is None:
        return null()
    start = func.coalesce(Deal.last_activity_at, Deal.stage_entered_at)
    if session.get_bind().dialect.name == "postgresql":
        return func.greatest(Deal.stage_entered_at, start) + func.make_interval(0, 0, 0, rotten_days)
    # SQLite: both are ISO text of one width, so max() is the later; datetime() adds the days.
    return func.strftime("%Y-%m-%d %H:%M:%f000", func.max(Deal.stage_entered_at, start), f"+{int(rotten_days)} days")


def default_pipeline(session: Session) -> Pipeline | None:
    return session.scalars(select(Pipeline).where(Pipeline.is_default.is_(True))).first()


def stage_specs(current: list[PipelineStage], items: list[dict[str, Any]]) -> list[StageSpec]:
    """Validate a full stage list against the current stages; errors name the item (`stages.1.name`).

    An item with an id keeps that stage, taking the fields it leaves out from it; the schema has
    already made sure that new items carry a name and a probability.
    """
    existing = {s.id: s for s in current}
    errors: dict[str, list[str]] = {}
    specs: list[StageSpec] = []
    kept: set[uuid.UUID] = set()
    names: set[str] = set()
    for i, item in enumerate(items):
        if item.get("position", i) != i:
            errors[f"stages.{i}.position"] = [f"The list order is the stage order: this stage is at position {i}."]
        base = existing.get(item["id"]) if item.get("id") is not None else None
        if item.get("id") is not None and (base is None or base.id in kept):
            errors[f"stages.{i}.id"] = ["Listed twice." if base else "Not a stage of this pipeline."]
            continue
        template: PipelineStage | StageSpec = base or NEW_STAGE
        kind, probability = item.get("kind", template.kind), item.get("probability", template.probability)
        archived_at = template.archived_at
        if "archived" in item and item["archived"] != (archived_at is not None):
            archived_at = utcnow() if item["archived"] else None
        # A stage keeps its own category; a new one (or one changing kind) takes the default of its kind.
        category = item.get("forecast_category", template.forecast_category if base and kind == base.kind else None)
        if kind != "open" and category not in (None, "closed"):
            errors[f"stages.{i}.forecast_category"] = ["A won or lost stage is in the closed category."]
        elif kind == "open" and category == "closed":
            errors[f"stages.{i}.forecast_category"] = ["closed is for won and lost stages."]
        spec = StageSpec(item.get("name", template.name), probability, kind, base.id if base else None,
                         item.get("rotten_days", template.rotten_days), category, archived_at)
        if spec.name.casefold() in names:
            errors[f"stages.{i}.name"] = [f"Another stage is already named {spec.name!r}."]
        names.add(spec.name.casefold())
        if base is not None:
            kept.add(base.id)
        specs.append(spec)
    if not errors and not any(s.kind == "open" and s.archived_at is None for s in specs):
        errors["stages"] = ["At least one stage must be open (and not archived)."]
    if errors:
        raise validation_error(errors)
    return specs


class PipelineService(RecordService[Pipeline]):
    model = Pipeline
    aggregate = "pipeline"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._provisioned: set[uuid.UUID] = set()  # tenants known (committed) to be provisioned
        # Moves a deal to a stage with its history and events (DealService.move), set by the composition root.
        self.deal_mover: Callable[[Session, uuid.UUID, uuid.UUID], None] | None = None

    def _deal_counts(self, session: Session, stage_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        if not stage_ids:
            return {}
        rows = session.execute(
            select(Deal.stage_id, func.count()).where(Deal.stage_id.in_(stage_ids)).group_by(Deal.stage_id)
        )
        return {stage_id: count for stage_id, count in rows}

    def _guard_stages_with_deals(self, session: Session, record: Pipeline, specs: list[StageSpec],
                                 move_to: dict[uuid.UUID, uuid.UUID]) -> None:
        """A stage that holds deals may be renamed, moved or archived, but not given another kind, and
        deleted only with a target: `move_deals_to` names a kept stage of the same kind for its deals,
        which move there (one history entry and event per deal) before the stage goes."""
        kept = {s.id: s for s in specs if s.id}
        current = {s.id: s for s in record.stages}
        errors: dict[str, list[str]] = {}
        for source, target in move_to.items():
            if source not in current or source in kept:
                errors[f"move_deals_to.{source}"] = ["Not a stage of this pipeline that the stage list leaves out."]
            elif target not in kept:
                errors[f"move_deals_to.{source}"] = ["The target must be a stage of this pipeline that stays."]
            elif kept[target].kind != current[source].kind:
                errors[f"move_deals_to.{source}"] = [f"The target must be a {current[source].kind} stage, like the one deleted."]
            elif kept[target].archived_at is not None:
                errors[f"move_deals_to.{source}"] = ["The target stage is archived."]
        if errors:
            raise validation_error(errors)
        touched = [s for s in record.stages if s.id not in kept or kept[s.id].kind != s.kind]
        counts = self._deal_counts(session, [s.id for s in touched])
        for stage in touched:
            if not counts.get(stage.id):
                continue
            if stage.id not in kept and stage.id in move_to and self.deal_mover is not None:
                ids = session.scalars(select(Deal.id).where(Deal.stage_id == stage.id).order_by(Deal.position, Deal.id)).all()
                for deal_id in ids:
                    self.deal_mover(session, deal_id, move_to[stage.id])
                continue
            what = "deleted (name a target in move_deals_to)" if stage.id not in kept else "given another kind"
            raise Conflict(
                f"Stage {stage.name!r} still has {counts[stage.id]} deal(s); move them before it is {what}.",
                errors={"stages": [f"Stage {stage.name!r} has deals."]}, stage_id=str(stage.id),
            )

    def _clear_other_defaults(self, session: Session, keep: uuid.UUID | None) -> None:
        others = select(Pipeline).where(Pipeline.is_default.is_(True))
        if keep is not None:
            others = others.where(Pipeline.id != keep)
        for other in session.scalars(others).all():
            other.is_default = False
            session.flush()  # before the new default is written: the partial unique index allows one
            self.outbox.emit(session, "crm.pipeline.updated", other.id, self.serialize(other),
                             changes={"is_default": [True, False]})

    def before_create(self, session: Session, values: dict[str, Any]) -> None:
        values["stage_plan"] = stage_specs([], values.pop("stages"))
        if values.get("is_default"):
            self._clear_other_defaults(session, None)

    def before_update(self, session: Session, record: Pipeline, values: dict[str, Any]) -> None:
        move_to = values.pop("move_deals_to", None) or {}
        if move_to and "stages" not in values:
            raise validation_error({"move_deals_to": ["Only with a stage list that leaves those stages out."]})
        if "stages" in values:
            specs = stage_specs(record.stages, values.pop("stages"))
            self._guard_stages_with_deals(session, record, specs, move_to)
            session.info.setdefault(_ROTTEN_BEFORE, {}).update({s.id: s.rotten_days for s in record.stages})
            values["stage_plan"] = specs
        if values.get("is_default") is False and record.is_default:
            raise validation_error({"is_default": ["Make another pipeline the default instead."]})
        if values.get("is_default") and not record.is_default:
            self._clear_other_defaults(session, record.id)

    def after_update(self, session: Session, record: Pipeline, changes: dict[str, list[Any]]) -> None:
        if "stages" in changes:
            self._sync_deals(session, record)

    def _sync_deals(self, session: Session, record: Pipeline) -> None:
        """Deals carry their stage's probability and forecast category (unless set on the deal) and
        their rots_at follows the stage's rotten_days: keep them in step in bulk, with a new version
        so their ETags change too, and the changes logged (one bulk crm.deal.changed per deal and field)."""
        rotten_before = session.info.get(_ROTTEN_BEFORE, {})
        for stage in record.stages:
            in_stage = (Deal.tenant_id == record.tenant_id, Deal.stage_id == stage.id)
            category = "closed" if stage.kind != "open" else stage.forecast_category
            follows_probability = and_(Deal.probability_is_manual.is_(False), Deal.probability != stage.probability)
            follows_category = and_(Deal.forecast_category_is_manual.is_(False), Deal.forecast_category != category)
            before = session.execute(select(Deal.id, Deal.probability, Deal.forecast_category, follows_probability,
                                            follows_category).where(*in_stage, or_(follows_probability, follows_category))).all()
            session.execute(update(Deal).where(*in_stage, or_(follows_probability, follows_category))
                            .values(probability=case((follows_probability, stage.probability), else_=Deal.probability),
                                    forecast_category=case((follows_category, category), else_=Deal.forecast_category),
                                    version=Deal.version + 1)
                            .execution_options(synchronize_session=False))
            # The change log lists every change of probability and forecast category, these too.
            log_bulk_changes(session, self.outbox, [
                *((d, "probability", old_p, stage.probability) for d, old_p, _c, moves_p, _m in before if moves_p),
                *((d, "forecast_category", old_c, category) for d, _p, old_c, _m, moves_c in before if moves_c)])
            if stage.id in rotten_before and rotten_before[stage.id] != stage.rotten_days:
                session.execute(update(Deal).where(*in_stage, Deal.status == "open")
                                .values(rots_at=rots_at_sql(session, stage.rotten_days), version=Deal.version + 1)
                                .execution_options(synchronize_session=False))
        session.expire_all()

    def before_delete(self, session: Session, record: Pipeline) -> None:
        deals = session.scalar(select(func.count()).select_from(Deal).where(Deal.pipeline_id == record.id)) or 0
        if deals:
            raise Conflict(f"Pipeline {record.name!r} still has {deals} deal(s); delete or move them first.")

    def create_default_pipeline(self, session: Session, tenant: uuid.UUID) -> Pipeline | None:
        """Give a tenant its "Sales" pipeline, exactly once: whichever comes first of the
        tenant.created event, the first pipeline list and the first deal provisions it; the others,
        and every later call (even after the tenant deleted that pipeline), do nothing."""
        if context.current_tenant() != tenant:
            # The session's tenant scope (and RLS setting) comes from the context: they must agree.
            raise ValueError(f"tenant {tenant} is not the tenant in context")
        if tenant in self._provisioned:
            return None
        table = TenantProvisioning.__table__
        dialect_insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        # A concurrent claim blocks here until the first commits, then finds the row: one creator.
        claimed = session.execute(dialect_insert(table).values(tenant_id=tenant, provisioned_at=utcnow())
                                  .on_conflict_do_nothing(index_elements=["tenant_id"])
                                  .returning(table.c.tenant_id)).first()
        if claimed is None:
            self._remember(tenant)  # the row that stopped us is committed
            return None
        event.listen(session, "after_commit", lambda _s: self._remember(tenant), once=True)
        if default_pipeline(session) is not None:
            return None
        stages = [{"name": s.name, "probability": s.probability, "kind": s.kind} for s in DEFAULT_STAGES]
        return self.create(session, {"name": DEFAULT_PIPELINE, "is_default": True, "stages": stages})

    def _remember(self, tenant: uuid.UUID) -> None:
        if len(self._provisioned) > 100_000:
            self._provisioned.clear()
        self._provisioned.add(tenant)
