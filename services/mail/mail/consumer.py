"""The mail service's consumers: send requests from every service; tenants (their mailboxes)."""

from __future__ import annotations

from crm_core.settings import Settings
from crm_db.database import Database
from crm_runtime.cli import ConsumerSpec
from mail.service import mailboxes


def consumers(settings: Settings, db: Database) -> list[ConsumerSpec]:
    specs: list[ConsumerSpec] = []
    specs.append(ConsumerSpec(mailboxes.TENANT_GROUP, [mailboxes.TENANT_TOPIC], mailboxes.tenant_handlers()))
    return specs
