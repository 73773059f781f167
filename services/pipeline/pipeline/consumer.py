"""Events the pipeline service consumes: a new tenant gets its default "Sales" pipeline."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from crm_core.settings import Settings
from crm_db.database import Database
from crm_events.consumer import Handler
from crm_events.envelope import Event
from crm_events.outbox import Outbox
from crm_runtime.cli import ConsumerSpec
from pipeline.models import metadata
from pipeline.schemas import PipelineSchema
from pipeline.service import PipelineService

PROVISIONING_GROUP = "pipeline.tenant-provisioning"
TENANT_TOPIC = "crm.gateway.tenant"


def tenant_handlers(pipelines: PipelineService) -> dict[str, Handler]:
    def on_tenant_created(session: Session, event: Event) -> None:
        # data.id is the tenant; the runner already scoped the session to event.tenant_id.
        tenant = uuid.UUID(str(event.data.get("id") or event.tenant_id))
        pipelines.create_default_pipeline(session, tenant)

    return {"crm.tenant.created": on_tenant_created}


def consumers(settings: Settings, _db: Database) -> list[ConsumerSpec]:
    pipelines = PipelineService(Outbox(settings.service, metadata()), PipelineSchema().dump)
    return [ConsumerSpec(PROVISIONING_GROUP, [TENANT_TOPIC], tenant_handlers(pipelines))]
