"""What the tickets worker runs besides the outbox relay: every area's consumers and loops."""

from __future__ import annotations

from crm_core.settings import Settings
from crm_db.database import Database
from crm_runtime.cli import BackgroundLoop, ConsumerSpec
from tickets.service import conversations, csat, kb, portal, routing, sla_config, tickets

AREAS = (tickets, routing, sla_config, kb, conversations, portal, csat)


def consumers(settings: Settings, db: Database) -> list[ConsumerSpec]:
    return [spec for area in AREAS for spec in area.consumers(settings, db)]


def background(settings: Settings, db: Database) -> list[BackgroundLoop]:
    return [loop for area in AREAS for loop in area.background(settings, db)]
