"""Helpers of the sending tests: queue requests as a service would, run the send loop's rounds."""

from __future__ import annotations

import uuid
from typing import Any

from crm_core.context import tenant_context
from crm_events.outbox import Outbox
from crm_mail.requests import build_request
from crm_testing.apps import ServiceHarness
from mail.config import MailSettings
from mail.models import metadata
from mail.service.delivery import MailWorker
from mail.service.requests import Ingest
from mail.service.transport import open_transport


def settings_of(svc: ServiceHarness) -> MailSettings:
    return MailSettings.from_settings(svc.settings)


def queue(svc: ServiceHarness, tenant: uuid.UUID, source: str = "tickets", **fields: Any) -> uuid.UUID:
    """One request through the ingest path (what the mail.send consumer does with the event)."""
    fields.setdefault("subject", "Hello")
    fields.setdefault("purpose", "transactional")
    fields.setdefault("text", "Hello there.")
    data = build_request(**fields)
    with tenant_context(tenant), svc.db.transaction() as session:
        Ingest(settings_of(svc), Outbox("mail", metadata())).queue(session, [(data, source)])
    return uuid.UUID(data["message_id"])


def worker(svc: ServiceHarness, **overrides: Any) -> MailWorker:
    mail = settings_of(svc)
    if overrides:
        from dataclasses import replace
        mail = replace(mail, **overrides)
    transport = open_transport(mail.smtp_url, mail.maildir, connections=mail.connections, timeout=5.0,
                               ca_file=mail.smtp_ca_file)
    return MailWorker(svc.db, mail, transport, Outbox("mail", metadata()), idle_sleep=0.05)


def drain(w: MailWorker, rounds: int = 50) -> int:
    total = 0
    for _ in range(rounds):
        n = w.deliver_due()
        if not n:
            break
        total += n
    return total
