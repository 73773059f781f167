"""Declarative base and the TenantScoped mixin every tenant-owned table uses."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from crm_core.ids import uuid7

JsonType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def utc_iso(value: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, as the API writes times."""
    return None if value is None else as_utc(value).isoformat().replace("+00:00", "Z")


class TenantScoped:
    """Mixin: tenant_id leads the primary key; id is a UUIDv7; `version` guards lost updates.

    crm_db.tenancy scopes every ORM query on these classes to the current tenant and stamps new
    rows with it; on PostgreSQL, RLS policies enforce the same rule in the database.
    """

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, sort_order=-100)
    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid7, sort_order=-99)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, sort_order=90)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, sort_order=91
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1, sort_order=92)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        # The ORM adds "AND version = :old" to every UPDATE and bumps it: a concurrent writer
        # that slipped past the If-Match check still cannot overwrite silently.
        return {"version_id_col": cls.version}
