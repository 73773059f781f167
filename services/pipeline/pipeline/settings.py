"""/v1/settings/pipeline: the tenant's base currency, lost reasons (and whether losing a deal needs
one) and follow-up days.

One row per tenant, written on the first PATCH; until then every tenant has the defaults
(version 0). The ETag is the version, as for records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.errors import PreconditionFailed
from crm_events.outbox import Outbox
from crm_http.auth import require_admin_access, require_scope
from crm_http.parsing import if_match_version, load
from crm_http.resource import record_response
from crm_runtime.service import ServiceRuntime
from pipeline.models.sales import DEFAULT_BASE_CURRENCY, DEFAULT_FOLLOW_UP_DAYS, DEFAULT_LOST_REASONS, PipelineSettings
from pipeline.schemas import PipelineSettingsInSchema, PipelineSettingsSchema

PATH = "/v1/settings/pipeline"
_CACHE = "pipeline_settings"


@dataclass(frozen=True)
class Defaults:
    """What a tenant without a settings row has."""

    base_currency: str = DEFAULT_BASE_CURRENCY
    lost_reasons: list[str] = field(default_factory=lambda: list(DEFAULT_LOST_REASONS))
    lost_reason_required: bool = True
    follow_up_days: int = DEFAULT_FOLLOW_UP_DAYS
    version: int = 0
    updated_at: Any = None


def current_settings(session: Session) -> PipelineSettings | Defaults:
    """The tenant's settings (read once per transaction)."""
    found = session.info.get(_CACHE)
    if found is None:
        found = session.scalars(select(PipelineSettings)).first() or Defaults()
        session.info[_CACHE] = found
    return found


def base_currency(session: Session) -> str:
    return current_settings(session).base_currency


class PipelineSettingsService:
    def __init__(self, outbox: Outbox, serialize: Any) -> None:
        self.outbox = outbox
        self.serialize = serialize

    def update(self, session: Session, values: dict[str, Any], expected: int | None,
               on_base_change: Any = None) -> PipelineSettings | Defaults:
        found = session.scalars(select(PipelineSettings).with_for_update()).first()
        current = found or Defaults()
        if expected is not None and current.version != expected:
            raise PreconditionFailed(f"The pipeline settings changed since version {expected}; now at {current.version}.",
                                     current=self.serialize(current))
        before = self.serialize(current)
        if found is None:
            found = PipelineSettings(base_currency=current.base_currency, lost_reasons=list(current.lost_reasons),
                                     lost_reason_required=current.lost_reason_required,
                                     follow_up_days=current.follow_up_days)
            session.add(found)
        for key, value in values.items():
            setattr(found, key, value)
        session.flush()
        session.info[_CACHE] = found
        after = self.serialize(found)
        changes = {k: [before.get(k), after.get(k)] for k in after if before.get(k) != after.get(k)
                   and k not in ("updated_at", "version")}
        if changes:
            self.outbox.emit(session, "crm.pipeline_settings.updated", found.id, after, changes=changes)
            if "base_currency" in changes and on_base_change is not None:
                on_base_change(session, *changes["base_currency"])
        return found


def register_settings(bp: Blueprint, runtime: ServiceRuntime, on_base_change: Any = None) -> None:
    out, in_schema = PipelineSettingsSchema(), PipelineSettingsInSchema()
    service = PipelineSettingsService(runtime.outbox, out.dump)

    def read() -> Response:
        require_scope("pipeline:read")
        with runtime.db.transaction() as session:
            body = out.dump(current_settings(session))
        return record_response(body)

    def update() -> Response:
        require_scope("pipeline:write")
        require_admin_access()  # tenant-wide
        expected = if_match_version()
        values = load(in_schema, partial=True)
        with runtime.db.transaction() as session:
            body = out.dump(service.update(session, values, expected, on_base_change))
        return record_response(body)

    bp.add_url_rule(PATH, "pipeline_settings_get", read, methods=["GET"])
    bp.add_url_rule(PATH, "pipeline_settings_update", update, methods=["PATCH"])
    doc = runtime.doc
    doc.operation(PATH, "get", summary="The tenant's pipeline settings (defaults until first changed; ETag = version)",
                  tag="Settings", scope="pipeline:read", response=PipelineSettingsSchema)
    doc.operation(PATH, "patch", summary="Change the pipeline settings (a new base currency re-converts open deals)",
                  tag="Settings", scope="pipeline:write", request=PipelineSettingsInSchema, response=PipelineSettingsSchema,
                  parameters=[{"name": "If-Match", "in": "header", "schema": {"type": "string"}}],
                  extra_responses={412: "Stale If-Match", 422: "Invalid fields"})
