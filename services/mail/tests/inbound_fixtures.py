"""The inbound tests' real parts: the mail service on its own PostgreSQL database (app role, RLS
on), publishing to the real Kafka, and the inbound SMTP server on a free port of 127.0.0.1.
Imported by the inbound test modules (their fixtures), kept out of the shared conftest."""

from __future__ import annotations

import json
import smtplib
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kafka import KafkaConsumer, TopicPartition
from psycopg import sql

import mail
from crm_core.context import public_principal
from crm_core.internal_token import HEADER
from crm_events.kafka_log import ensure_topics
from crm_events.outbox import Outbox
from crm_mail.topics import MAIL_EVENTS_TOPIC
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, make_harness
from crm_testing.db import create_service_database, libpq_url
from mail.app import create_app
from mail.config import MailSettings
from mail.models import metadata
from mail.service.inbound import Receiver
from mail.service.mailboxes import mailbox_for
from mail.smtp_server import InboundSmtpServer

DOMAIN = "inbound.localhost"
MAX_MIB = "0.0625"  # 64 KiB: oversize is cheap to send


@dataclass
class Inbound:
    svc: ServiceHarness
    host: str
    port: int
    settings: MailSettings

    def mailbox(self, tenant: str, name: str) -> str:
        """Tenant `tenant`'s mailbox, named `name` (or with a suffix when taken); its name."""
        with self.svc.db.transaction() as session:
            return mailbox_for(session, self.svc.tenant(tenant), name_hint=name).name

    def smtp(self) -> smtplib.SMTP:
        client = smtplib.SMTP(self.host, self.port, timeout=10, local_hostname="client.example")
        client.ehlo()
        return client

    def send(self, raw: bytes, rcpt: list[str], mail_from: str = "sender@example.com") -> dict[str, Any]:
        with self.smtp() as client:
            return client.sendmail(mail_from, rcpt, raw)

    def public_headers(self) -> dict[str, str]:
        return {HEADER: self.svc.signer.mint(public_principal(), "mail"), "X-Request-Id": "inbound-test"}

    def get(self, tenant: str | uuid.UUID, path: str, status: int = 200, **kwargs: Any) -> Any:
        resp = self.svc.client.get(path, headers=self.svc.headers(tenant, **kwargs))
        assert resp.status_code == status, (path, resp.status_code, resp.get_data(as_text=True))
        return resp.get_json() if resp.is_json else resp


@pytest.fixture(scope="module")
def inbound(pg_admin_url: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inbound]:
    name = f"mail_in_{uuid.uuid4().hex[:10]}"
    owner_url, app_url = create_service_database(pg_admin_url, name)
    ensure_topics(kafka_bootstrap, [MAIL_EVENTS_TOPIC])
    svc = make_harness("mail", create_app, metadata(), migrations_dir(mail.__file__), Path(tmp_path_factory.mktemp("in")),
                       database_url=app_url, owner_url=owner_url, kafka_bootstrap=kafka_bootstrap,
                       CRM_INBOUND_DOMAIN=DOMAIN, CRM_MAIL_MAX_MESSAGE_MIB=MAX_MIB)
    settings = MailSettings.from_settings(svc.settings)
    server = InboundSmtpServer(Receiver(svc.db, Outbox("mail", svc.metadata), settings), settings,
                               host="127.0.0.1", port=0, workers=2)
    host, port = server.start()
    try:
        yield Inbound(svc, host, port, settings)
    finally:
        server.stop()
        svc.db.dispose()
        with psycopg.connect(libpq_url(pg_admin_url), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class MailTopic:
    """crm.mail.mail from the offsets it had when made: this run's events only, no consumer group."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
        deadline = time.monotonic() + 30
        while not (found := self.consumer.partitions_for_topic(MAIL_EVENTS_TOPIC)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert found, "no partitions for the mail topic"
        partitions = [TopicPartition(MAIL_EVENTS_TOPIC, p) for p in sorted(found)]
        self.consumer.assign(partitions)
        for tp, offset in self.consumer.end_offsets(partitions).items():
            self.consumer.seek(tp, offset)

    def read(self, until: Callable[[list[dict[str, Any]]], bool], timeout: float = 30) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while not until(events):
            assert time.monotonic() < deadline, f"timed out; got {[e['type'] for e in events]}"
            for records in self.consumer.poll(timeout_ms=300).values():
                events += [json.loads(r.value) for r in records]
        return events

    def close(self) -> None:
        self.consumer.close()


@pytest.fixture
def mail_topic(inbound: Inbound, kafka_bootstrap: str) -> Iterator[MailTopic]:
    topic = MailTopic(kafka_bootstrap)
    yield topic
    topic.close()
