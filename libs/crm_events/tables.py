"""The outbox and processed_events tables, added to each service's own metadata."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table, Text, Uuid

from crm_db.base import utcnow

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


@dataclass(frozen=True)
class EventTables:
    outbox: Table
    processed_events: Table


@functools.cache
def event_tables(metadata: MetaData) -> EventTables:
    # Not under RLS: the relay reads every tenant's rows, and nothing in it is served over the API.
    outbox = Table(
        "outbox", metadata,
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column("tenant_id", Uuid(), nullable=False),
        Column("event_id", Uuid(), nullable=False),
        Column("event_type", String(100), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("key", String(100), nullable=False),
        Column("payload", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, default=utcnow),
    )
    # Tenant-scoped (RLS applies): consumers set the tenant from the event before writing here.
    processed = Table(
        "processed_events", metadata,
        Column("tenant_id", Uuid(), primary_key=True),
        Column("consumer", String(100), primary_key=True),
        Column("event_id", Uuid(), primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False, default=utcnow),
    )
    return EventTables(outbox, processed)
