"""Consumer automation.webhooks: every event of the platform's topics becomes deliveries to the
matching subscriptions of its tenant (the runner has set that tenant's context and dedupes)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from automation.deliveries import fan_out
from crm_core.settings import Settings
from crm_db.base import utcnow
from crm_db.database import Database
from crm_events.consumer import Handler
from crm_events.envelope import Event
from crm_runtime.cli import ConsumerSpec

GROUP = "automation.webhooks"
TOPICS = [
    "crm.contacts.contact", "crm.pipeline.deal", "crm.pipeline.task", "crm.pipeline.pipeline",
    "crm.tickets.ticket", "crm.campaigns.campaign", "crm.gateway.tenant",
]


def on_event(session: Session, event: Event) -> None:
    fan_out(session, event, utcnow())


def handlers() -> dict[str, Handler]:
    return {"*": on_event}  # the runner's catch-all: subscriptions can name any type


def consumers(_settings: Settings, _db: Database) -> list[ConsumerSpec]:
    return [ConsumerSpec(GROUP, list(TOPICS), handlers())]
