"""Review findings on isolation: statements on tables the ORM's tenant criteria do not cover
(Core selects, mail_attempts) name the tenant themselves, so SQLite (no RLS) keeps tenants apart
even when two tenants' requests carry the same message id."""

from __future__ import annotations

import uuid

from send_helpers import drain, queue, worker

from crm_testing.apps import ServiceHarness
from crm_testing.smtp import SmtpSink


def test_the_same_message_id_in_two_tenants_stays_two_messages(relayed: ServiceHarness, sink: SmtpSink) -> None:
    a, b = relayed.tenant("a"), relayed.tenant("b")
    mid = uuid.uuid4()
    queue(relayed, a, to=["a-only@example.com"], subject="for A", message_id=mid)
    queue(relayed, b, to=["b-only@example.com"], subject="for B", message_id=mid)
    assert drain(worker(relayed)) == 2
    got = sorted((m.rcpt_tos[0], b"for A" in m.data, b"for B" in m.data) for m in sink.messages)
    assert got == [("a-only@example.com", True, False), ("b-only@example.com", False, True)]
    body = relayed.client.get(f"/v1/mail/messages/{mid}", headers=relayed.headers("a")).get_json()
    assert body["subject"] == "for A" and [x["attempt"] for x in body["attempt_log"]] == [1]
