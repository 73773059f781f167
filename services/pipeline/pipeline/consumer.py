"""Events the pipeline service consumes: a new tenant gets its default "Sales" pipeline; the users
and contacts replicas follow the gateway's and contacts' events; a deal handed to a new owner
notifies them."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from crm_core.settings import Settings
from crm_db.database import Database
from crm_events.consumer import Handler
from crm_events.envelope import Event
from crm_events.outbox import Outbox
from crm_runtime.cli import ConsumerSpec
from pipeline import notification_requests
from pipeline.activity_consumer import activity_consumers
from pipeline.models import metadata
from pipeline.notifications import notify
from pipeline.replicas import CONTACT_TOPIC, USER_TOPIC, contact_handlers, user_handlers
from pipeline.schemas import PipelineSchema
from pipeline.service import PipelineService

PROVISIONING_GROUP = "pipeline.tenant-provisioning"
TENANT_TOPIC = "crm.gateway.tenant"
REPLICA_GROUP = "pipeline.replicas"
DEAL_TOPIC = "crm.pipeline.deal"
ASSIGNMENT_GROUP = "pipeline.deal-assignments"


def tenant_handlers(pipelines: PipelineService) -> dict[str, Handler]:
    def on_tenant_created(session: Session, event: Event) -> None:
        # data.id is the tenant; the runner already scoped the session to event.tenant_id.
        tenant = uuid.UUID(str(event.data.get("id") or event.tenant_id))
        pipelines.create_default_pipeline(session, tenant)

    return {"crm.tenant.created": on_tenant_created}


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def deal_assignment_handlers(outbox: Outbox) -> dict[str, Handler]:
    """A deal's new owner is notified, unless they made the change themselves (the envelope's actor_id)."""

    def assigned(session: Session, event: Event) -> None:
        data = event.data
        changes = data.get("changes") or {}
        if event.type == "crm.deal.updated" and "owner_id" not in changes:
            return
        owner = _uuid(data.get("owner_id"))
        actor = _uuid(event.actor_id)
        if owner is None or owner == actor:
            return
        notify(session, outbox, user_id=owner, kind="deal_assigned", title=f"Deal assigned to you: {data.get('name') or ''}",
               subject_type="deal", subject_id=uuid.UUID(event.subject), actor_id=actor)

    return {"crm.deal.created": assigned, "crm.deal.updated": assigned}


def consumers(settings: Settings, _db: Database) -> list[ConsumerSpec]:
    outbox = Outbox(settings.service, metadata())
    pipelines = PipelineService(outbox, PipelineSchema().dump)
    return [ConsumerSpec(PROVISIONING_GROUP, [TENANT_TOPIC], tenant_handlers(pipelines)),
            ConsumerSpec(REPLICA_GROUP, [USER_TOPIC, CONTACT_TOPIC], {**user_handlers(), **contact_handlers()}),
            ConsumerSpec(ASSIGNMENT_GROUP, [DEAL_TOPIC], deal_assignment_handlers(outbox)),
            ConsumerSpec(notification_requests.GROUP, notification_requests.request_topics(),
                         notification_requests.handlers(outbox)),
            *activity_consumers(settings, _db)]
