"""The send loop of `python -m mail worker`: claim due messages fairly, send them over the pooled
transport, record the outcomes.

One round: claim (crm_db.fair_queue: lane 0, transactional and notification, before lane 1,
marketing; within a lane every tenant's oldest message before any tenant's second), read the
claimed messages per tenant (one transaction each), send them concurrently over the transport's
connections (outside any transaction), then record attempts, statuses, queue rows and events per
tenant in one transaction each. So a tenant's 100,000-message campaign costs another tenant's
password reset at most the round in flight. Rates (CRM_MAIL_RATE_PER_SECOND, per tenant
CRM_MAIL_TENANT_RATE_PER_SECOND) are token buckets that limit what a round may claim.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from crm_core.context import tenant_context
from crm_core.metrics import metrics
from crm_core.settings import Settings
from crm_db.base import as_utc, utcnow
from crm_db.bulk import bulk_insert
from crm_db.database import Database
from crm_db.fair_queue import Claimed, FairQueue
from crm_events.outbox import Outbox
from mail.config import MailSettings
from mail.models import LANE_BULK, LANE_PRIORITY, MailAttempt, Mailbox, MailMessage, mail_queue, metadata
from mail.schemas.messages import message_body
from mail.service.requests import blocked, recipients, suppressions_for
from mail.service.suppressions import add_suppression
from mail.service.transport import DEFERRED, FAILED, SENT, Job, Result, Transport, open_transport

log = logging.getLogger(__name__)

QUEUE = FairQueue(mail_queue, "message_id", lane_column="lane")
LEASE = dt.timedelta(minutes=10)  # far above a round's length: only a dead worker lets it run out
PENDING = ("queued", "deferred")
SUPPRESSED = "suppressed"
QUEUE_AGE_EVERY = 5.0  # seconds between looks at the queue's oldest due message (a metric)
_TABLE = MailMessage.__table__
_COLUMNS = [c for c in _TABLE.c if c.name != "mime"]  # type: ignore[attr-defined]
_UPDATE = (update(_TABLE).where(_TABLE.c.tenant_id == bindparam("b_tenant"), _TABLE.c.id == bindparam("b_id"))  # type: ignore[attr-defined]
           .values(status=bindparam("status"), attempts=bindparam("attempts"),
                   next_attempt_at=bindparam("next_attempt_at"), last_error=bindparam("last_error"),
                   last_smtp_code=bindparam("last_smtp_code"), sent_at=bindparam("sent_at"),
                   delivered_to=bindparam("delivered_to"), updated_at=bindparam("updated_at"), version=_TABLE.c.version + 1))  # type: ignore[attr-defined]
_REQUEUE = (update(mail_queue).where(mail_queue.c.tenant_id == bindparam("b_tenant"),
                                     mail_queue.c.message_id == bindparam("b_id")).values(due_at=bindparam("due_at")))


class TokenBucket:
    """`rate` per second with a burst of one second's worth (at least one)."""

    def __init__(self, rate: float) -> None:
        self.rate, self.capacity = rate, max(1.0, rate)
        self.tokens, self.at = self.capacity, time.monotonic()

    def available(self) -> int:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        return int(self.tokens)

    def take(self, n: int) -> None:
        self.available()
        self.tokens -= n


def is_bad_mailbox(code: int, text: str) -> bool:
    """A recipient the relay refused as nonexistent (5.1.x: addressing), not a policy refusal
    (5.7.x relaying denied) or a full mailbox: only those become hard-bounce suppressions."""
    return 500 <= code < 600 and " 5.1." in f" {text.strip()}"


class MailWorker:
    def __init__(self, db: Database, settings: MailSettings, transport: Transport, outbox: Outbox, *,
                 idle_sleep: float = 0.5) -> None:
        self.db, self.settings, self.transport, self.outbox = db, settings, transport, outbox
        self.batch = settings.send_batch
        self.idle_sleep = idle_sleep
        self._observed = 0.0
        self.rate = TokenBucket(settings.rate_per_second) if settings.rate_per_second > 0 else None
        self.tenant_rates: dict[uuid.UUID, TokenBucket] = {}
        workers = getattr(transport, "size", None) or settings.connections
        self._pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="mail-send")

    @classmethod
    def from_settings(cls, settings: Settings, db: Database) -> MailWorker:
        mail = MailSettings.from_settings(settings)
        transport = open_transport(mail.smtp_url, mail.maildir, connections=mail.connections,
                                   timeout=mail.smtp_timeout, ca_file=mail.smtp_ca_file)
        return cls(db, mail, transport, Outbox("mail", metadata()))

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    done = self.deliver_due()
                    if time.monotonic() - self._observed > QUEUE_AGE_EVERY:
                        self._observed = time.monotonic()
                        self.observe_queue_age(utcnow())
                except Exception:  # database away: the queue keeps everything, try again
                    log.exception("mail send loop failed; retrying")
                    stop.wait(2.0)
                    continue
                if not done:
                    stop.wait(self.idle_sleep)
        finally:
            self.close()

    def observe_queue_age(self, now: dt.datetime) -> None:
        """crm_mail_queue_oldest_seconds{purpose}: how long the oldest due message of each lane has
        waited (lane 0 carries transactional and notification mail, labelled transactional)."""
        q = mail_queue.c
        with self.db.engine.connect() as conn:
            oldest = dict(conn.execute(select(q.lane, func.min(q.due_at)).where(q.due_at <= now).group_by(q.lane)).all())
        for lane, label in ((LANE_PRIORITY, "transactional"), (LANE_BULK, "marketing")):
            due = oldest.get(lane)
            age = 0.0 if due is None else max(0.0, (now - as_utc(due)).total_seconds())
            metrics().mail_queue_oldest.labels(label).set(age)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.transport.close()

    # -- one round ---------------------------------------------------------------------------

    def deliver_due(self, now: dt.datetime | None = None) -> int:
        """Claim, send and record one round (`now`: a fake clock in tests); messages handled."""
        now = now or utcnow()
        claimed = self._claim(now)
        if not claimed:
            return 0
        by_tenant: dict[uuid.UUID, list[uuid.UUID]] = collections.defaultdict(list)
        for tenant_id, message_id in claimed:
            by_tenant[tenant_id].append(message_id)
        prepared = {t: self._prepare(t, ids) for t, ids in by_tenant.items()}
        jobs = [job for rows, _ in prepared.values() for job in rows.values() if isinstance(job, Job)]
        results = dict(zip([(j.tenant_id, j.message_id) for j in jobs], self._pool.map(self._send, jobs),
                           strict=True))
        for tenant_id, (rows, messages) in prepared.items():
            self._record(tenant_id, rows, messages, results, now)
        return len(claimed)

    def _send(self, job: Job) -> Result:
        """The transport's result; an error it did not foresee defers this one message (retried,
        then failed at max attempts) instead of losing the round's record of every other one."""
        try:
            return self.transport.send(job)
        except Exception as exc:
            log.exception("sending message %s failed unexpectedly", job.message_id)
            return Result(DEFERRED, None, f"{type(exc).__name__}: {exc}"[:1000])

    def _claim(self, now: dt.datetime) -> list[Claimed]:
        limit = self.batch
        if self.rate is not None:
            limit = min(limit, self.rate.available())
        per, room = self.batch, {}
        if self.settings.tenant_rate_per_second > 0:
            # A tenant never gets more than its bucket holds: a full bucket for one not seen yet.
            per = max(1, min(self.batch, int(TokenBucket(self.settings.tenant_rate_per_second).capacity)))
            room = {t: n for t, b in self.tenant_rates.items() if (n := b.available()) < per}
        if limit <= 0:
            return []
        with self.db.engine.begin() as conn:
            claimed = QUEUE.claim(conn, now, limit, per=per, lease=LEASE, room=room, lane=LANE_PRIORITY)
            if len(claimed) < limit:
                taken = collections.Counter(t for t, _ in claimed)
                rest = {t: room.get(t, per) - taken[t] for t in set(room) | set(taken)}
                claimed += QUEUE.claim(conn, now, limit - len(claimed), per=per, lease=LEASE,
                                       room=rest, lane=LANE_BULK)
        if self.rate is not None:
            self.rate.take(len(claimed))
        if self.settings.tenant_rate_per_second > 0:
            for tenant_id, n in collections.Counter(t for t, _ in claimed).items():
                bucket = self.tenant_rates.get(tenant_id)
                if bucket is None:
                    bucket = self.tenant_rates[tenant_id] = TokenBucket(self.settings.tenant_rate_per_second)
                bucket.take(n)
        return claimed

    def _prepare(self, tenant_id: uuid.UUID, ids: list[uuid.UUID]) -> tuple[dict[uuid.UUID, Any], dict[uuid.UUID, dict[str, Any]]]:
        """Per claimed message: a Job to send, SUPPRESSED (nobody left to send to) or None (not
        pending any more); and the messages' fields (for the record and the events)."""
        with tenant_context(tenant_id), self.db.transaction() as session:
            # A Core select: the ORM's tenant criteria do not apply, so it names the tenant (ids
            # are the requester's and unique per tenant only; SQLite has no RLS behind this).
            found = session.execute(select(*_COLUMNS, _TABLE.c.mime).where(  # type: ignore[attr-defined]
                _TABLE.c.tenant_id == tenant_id, _TABLE.c.id.in_(ids))).mappings().all()  # type: ignore[attr-defined]
            box = session.scalar(select(Mailbox.name).where(Mailbox.tenant_id == tenant_id))
            suppressed = suppressions_for(session, [a for m in found for a in recipients(m)])
        messages = {m["id"]: {k: v for k, v in m.items() if k != "mime"} for m in found}
        out: dict[uuid.UUID, Any] = dict.fromkeys(ids)
        for m in found:
            if m["status"] not in PENDING or m["mime"] is None:
                continue
            done = set(m["delivered_to"] or ())  # accepted by an earlier attempt
            to = [a for a in recipients(m) if a not in done and not blocked(suppressed, a, m["purpose"])]
            if not to:
                out[m["id"]] = SUPPRESSED
                continue
            envelope = f"{box}+b-{m['id'].hex}@{self.settings.inbound_domain}" if box else \
                m["from_address"]
            out[m["id"]] = Job(tenant_id, m["id"], envelope, to, m["mime"])
        return out, messages

    def _retry_at(self, attempt: int, now: dt.datetime) -> dt.datetime:
        base = self.settings.retry_base_seconds * 2 ** min(attempt - 1, 20)
        wait = min(self.settings.retry_max_seconds, base) * (1.0 + 0.25 * random.random())
        return now + dt.timedelta(seconds=wait)

    def _record(self, tenant_id: uuid.UUID, rows: dict[uuid.UUID, Any], messages: dict[uuid.UUID, dict[str, Any]],
                results: dict[tuple[uuid.UUID, uuid.UUID], Result], now: dt.datetime) -> None:
        updates, attempts, requeue, done = [], [], [], []
        events: dict[str, list[tuple[uuid.UUID, dict[str, Any]]]] = collections.defaultdict(list)
        bounces: list[tuple[str, str, uuid.UUID]] = []
        for mid, job in rows.items():
            message = messages.get(mid)
            if job is None or message is None:
                done.append(mid)  # sent, failed or gone meanwhile: only its queue row is left
                continue
            if job == SUPPRESSED and message["delivered_to"]:  # the rest were suppressed meanwhile
                message.update(status=SENT, next_attempt_at=None)
            elif job == SUPPRESSED:
                message.update(status=SUPPRESSED, next_attempt_at=None, last_error="Every recipient is suppressed.")
            else:
                result = results[(tenant_id, mid)]
                number = message["attempts"] + 1
                status = result.outcome
                if status == DEFERRED and number >= self.settings.max_attempts:
                    # Out of attempts: failed, unless an earlier attempt reached some recipients.
                    status = SENT if message["delivered_to"] else FAILED
                error = result.response if status != SENT else None
                sent_at = message["sent_at"]
                if status == SENT:
                    sent_at = sent_at or now
                    # Taken for some, deferred (4xx) for others: those are tried again, alone.
                    later = [a for a, (c, _t) in result.refused.items() if not 500 <= c < 600]
                    if later and number < self.settings.max_attempts:
                        status = DEFERRED
                        message["delivered_to"] = sorted({*(message["delivered_to"] or ()),
                                                          *(a for a in job.recipients if a not in result.refused)})
                if result.refused:
                    refused = "; ".join(f"{a}: {c} {t}" for a, (c, t) in result.refused.items())
                    error = f"refused: {refused}" if status in (SENT, DEFERRED) and sent_at else error
                    bounces += [(a, f"{c} {t}", mid) for a, (c, t) in result.refused.items() if is_bad_mailbox(c, t)]
                message.update(status=status, attempts=number, last_error=error, last_smtp_code=result.code,
                               sent_at=sent_at,
                               next_attempt_at=self._retry_at(number, now) if status == DEFERRED else None)
                attempts.append({"tenant_id": tenant_id, "message_id": mid, "attempt": number, "started_at": now,
                                 "duration_ms": result.duration_ms, "outcome": status, "smtp_code": result.code,
                                 "response": (result.response or "")[:2000] or None})
            message["updated_at"] = now
            status = message["status"]
            updates.append({"b_tenant": tenant_id, "b_id": mid, **{k: message[k] for k in (
                "status", "attempts", "next_attempt_at", "last_error", "last_smtp_code", "sent_at", "delivered_to",
                "updated_at")}})
            if status == DEFERRED:
                requeue.append({"b_tenant": tenant_id, "b_id": mid, "due_at": message["next_attempt_at"]})
            else:
                done.append(mid)
            events[f"crm.mail.{status}"].append((mid, message_body(message)))
        with tenant_context(tenant_id), self.db.transaction() as session:
            self._write(session, tenant_id, updates, attempts, requeue, done, events, bounces)
        for kind, items in events.items():  # after the commit: what happened, once
            metrics().mail_messages.labels(kind.removeprefix("crm.mail.")).inc(len(items))

    def _write(self, session: Session, tenant_id: uuid.UUID, updates: list[dict[str, Any]],
               attempts: list[dict[str, Any]], requeue: list[dict[str, Any]], done: list[uuid.UUID],
               events: dict[str, list[tuple[uuid.UUID, dict[str, Any]]]], bounces: list[tuple[str, str, uuid.UUID]]) -> None:
        conn = session.connection()
        if updates:
            conn.execute(_UPDATE, updates)
        bulk_insert(conn, MailAttempt.__table__, attempts)  # type: ignore[arg-type]
        if requeue:
            conn.execute(_REQUEUE, requeue)
        if done:
            conn.execute(delete(mail_queue).where(mail_queue.c.tenant_id == tenant_id,
                                                  mail_queue.c.message_id.in_(done)))
        for kind, items in events.items():
            self.outbox.emit_many(session, kind, items)
        for address, detail, mid in bounces:
            add_suppression(session, address, "hard_bounce", detail=detail, source_message_id=mid)
