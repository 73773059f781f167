"""The mail service's consumers: send requests from every service; tenants (their mailboxes)."""

from __future__ import annotations

from crm_core.settings import Settings
from crm_db.database import Database
from crm_runtime.cli import ConsumerSpec


def consumers(settings: Settings, db: Database) -> list[ConsumerSpec]:
    return []
