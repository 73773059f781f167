"""Fairness on PostgreSQL: one tenant's 10,000-message campaign never delays another tenant's
transactional mail, because the claim takes lane 0 first and every tenant's oldest first."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid

from send_helpers import queue, worker
from sqlalchemy import func, select

from crm_core.context import tenant_context
from crm_db.base import utcnow
from crm_db.bulk import bulk_insert
from crm_testing.apps import ServiceHarness
from crm_testing.smtp import SmtpSink
from mail.models import LANE_BULK, MailMessage, mail_queue
from mail.service.delivery import LEASE, QUEUE

RAW = b"From: a@example.com\r\nTo: x@example.com\r\nSubject: Sale\r\nMessage-ID: <m@x>\r\n\r\nBuy.\r\n"


def burst(svc: ServiceHarness, tenant: uuid.UUID, count: int, at: dt.datetime) -> None:
    """`count` rendered marketing messages queued at `at` (straight into the tables: what is under
    test is the claim, not rendering)."""
    with tenant_context(tenant), svc.db.transaction() as session:
        for start in range(0, count, 2000):
            rows, queue_rows = [], []
            for _ in range(min(2000, count - start)):
                mid = uuid.uuid4()
                rows.append({"tenant_id": tenant, "id": mid, "created_at": at, "updated_at": at, "version": 1,
                             "purpose": "marketing", "status": "queued", "source": "campaigns",
                             "from_address": "a@example.com", "from_name": None, "sender_id": None,
                             "to": [{"address": f"{mid.hex}@example.com"}], "cc": [], "bcc": [], "subject": "Sale",
                             "refers_to_type": "campaign", "refers_to_id": "C-1", "message_id_header": f"<{mid}@x>",
                             "mime": RAW, "size": len(RAW), "attempts": 0, "next_attempt_at": at, "last_error": None,
                             "last_smtp_code": None, "sent_at": None, "bounced_at": None})
                queue_rows.append({"tenant_id": tenant, "message_id": mid, "lane": LANE_BULK, "due_at": at})
            bulk_insert(session.connection(), MailMessage.__table__, rows)  # type: ignore[arg-type]
            bulk_insert(session.connection(), mail_queue, queue_rows)


def test_the_claim_takes_a_later_transactional_message_before_an_earlier_campaign(pg_relayed: ServiceHarness) -> None:
    a, b, c = pg_relayed.tenant("a"), pg_relayed.tenant("b"), pg_relayed.tenant("c")
    burst(pg_relayed, a, 300, utcnow() - dt.timedelta(minutes=5))
    burst(pg_relayed, c, 3, utcnow() - dt.timedelta(minutes=1))
    reset = queue(pg_relayed, b, to=["user@example.com"], subject="Password reset")
    now = utcnow()
    with pg_relayed.db.engine.begin() as conn:
        first = QUEUE.claim(conn, now, 1, per=200, lease=LEASE, lane=0)
        bulk = QUEUE.claim(conn, now, 4, per=200, lease=LEASE, lane=1)
    assert first == [(b, reset)]
    # Round-robin within the lane: A's backlog and C's few alternate, A's age notwithstanding.
    assert [t for t, _ in bulk] == [a, c, a, c]


def test_a_transactional_message_goes_out_within_seconds_of_a_10000_message_burst(
        pg_relayed: ServiceHarness, sink: SmtpSink) -> None:
    a, b = pg_relayed.tenant("a"), pg_relayed.tenant("b")
    sink.keep = False
    arrived: dict[str, float] = {}
    sink.on_message = lambda m: arrived.setdefault("b", m.at) if "user@example.com" in m.rcpt_tos else None
    burst(pg_relayed, a, 10_000, utcnow())
    w = worker(pg_relayed)
    stop = threading.Event()
    thread = threading.Thread(target=w.run, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while sink.count < 500 and time.monotonic() < deadline:  # the campaign is in full flow
            time.sleep(0.05)
        asked = time.monotonic()
        queue(pg_relayed, b, to=["user@example.com"], subject="Password reset")
        while "b" not in arrived and time.monotonic() < asked + 30:
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert "b" in arrived, "the transactional message never went out"
    waited = arrived["b"] - asked
    with tenant_context(a), pg_relayed.db.transaction() as session:
        left = session.scalar(select(func.count()).select_from(mail_queue).where(mail_queue.c.tenant_id == a))
    print(f"\ntransactional message of B out {waited:.3f}s after it was queued; "
          f"{sink.count} messages sent by then, A's campaign still had {left} queued")
    assert waited < 15
    assert left > 0  # B did not simply wait for A's campaign to finish
