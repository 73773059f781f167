"""Tickets tables. Every table is tenant-scoped: tenant_id leads keys, foreign keys and indexes.

One module per area; import a table from its module. This package re-exports the core tables.
"""

from __future__ import annotations

from sqlalchemy import MetaData

from crm_events.tables import event_tables
from crm_http.idempotency import idempotency_table

# The area modules register their tables on Base.metadata when imported.
from tickets.models import conversations, csat, kb, portal, routing, sla  # noqa: F401
from tickets.models.base import Base
from tickets.models.core import (
    CHANNELS,
    DEFAULT_AUTO_CLOSE_DAYS,
    DEFAULT_CHANNEL,
    DEFAULT_PRIORITY,
    DEFAULT_STATUS,
    DONE_STATUSES,
    PAUSED_STATUSES,
    PRIORITIES,
    STATUS_ALIASES,
    STATUSES,
    Ticket,
    TicketContact,
    TicketCounter,
    TicketPropertyDefinition,
    TicketSettingsRow,
    timers,
)

__all__ = ["CHANNELS", "DEFAULT_AUTO_CLOSE_DAYS", "DEFAULT_CHANNEL", "DEFAULT_PRIORITY", "DEFAULT_STATUS",
           "DONE_STATUSES", "PAUSED_STATUSES", "PRIORITIES", "STATUSES", "STATUS_ALIASES", "Base", "Ticket",
           "TicketContact", "TicketCounter", "TicketPropertyDefinition", "TicketSettingsRow", "metadata", "timers"]


def metadata() -> MetaData:
    """The service's full metadata: its records plus outbox, processed events and idempotency keys."""
    event_tables(Base.metadata)
    idempotency_table(Base.metadata)
    return Base.metadata
