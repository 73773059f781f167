"""Mail send benchmark: 100,000 messages (BENCH_MAIL_MESSAGES) rendered, queued and sent to a local
aiosmtpd sink over the pooled SMTP connections of the real send loop.

Two phases, each in its own worker process on a fresh PostgreSQL database (app role, RLS on):
  ingest  the mail.send consumer's batch handler (mail.service.requests.Ingest.queue, 500 requests
          per tenant transaction: validate, resolve the sender, check suppressions, render the MIME
          once, DKIM-sign for the tenants with a key, insert message + queue rows). The requests are
          handed to it directly, not read from Kafka: the broker's share is the consumer's, measured
          elsewhere.
  send    the send loop of `python -m mail worker` (mail.service.delivery.MailWorker) until the queue
          is empty: fair claim, read, SMTP over CRM_MAIL_CONNECTIONS connections, bookkeeping and
          crm.mail.sent events per tenant per round.
Printed per phase: messages/s and CPU seconds per 1,000 messages of the worker process and of the
PostgreSQL backends it used (sampled from /proc while it runs). The sink runs in this process.
Mix: 4 tenants, 90 % marketing, 10 % transactional; one tenant signs with DKIM (RSA-2048).
Alone: `.venv/bin/python bench/mail_send.py` (PostgreSQL from CRM_TEST_PG_ADMIN_URL, else the
bench's own server as bench/run.py starts it). Knobs: BENCH_MAIL_MESSAGES, BENCH_MAIL_CONNECTIONS (4),
BENCH_MAIL_BATCH (send round size, 200), BENCH_MAIL_DB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import ROOT, cpu_seconds_by_pid, drop_databases, pg_admin_url, pg_backends  # noqa: E402

MESSAGES = int(os.environ.get("BENCH_MAIL_MESSAGES", "100000").replace("_", ""))
CONNECTIONS = os.environ.get("BENCH_MAIL_CONNECTIONS", "4")
BATCH = os.environ.get("BENCH_MAIL_BATCH", "200")
DATABASE = os.environ.get("BENCH_MAIL_DB", "bench_mail_send")
TENANTS = [uuid.UUID(int=i + 1) for i in range(4)]
WORKER_TIMEOUT = 1800


def _settings(var_dir: Path, app_url: str, owner_url: str, smtp_url: str) -> Any:
    from crm_testing.apps import make_settings

    return make_settings("mail", var_dir, database_url=app_url, owner_url=owner_url, CRM_SMTP_URL=smtp_url,
                         CRM_MAIL_CONNECTIONS=CONNECTIONS, CRM_MAIL_SEND_BATCH=BATCH, CRM_MAIL_RETRY_BASE_SECONDS="1")


def child(phase: str, var_dir: str, app_url: str, owner_url: str, smtp_url: str) -> None:
    """One phase in this (worker) process; prints {"messages", "seconds", "cpu"} as JSON."""
    from crm_core.context import tenant_context
    from crm_db.database import Database
    from crm_events.outbox import Outbox
    from crm_mail.requests import build_request
    from mail.config import MailSettings
    from mail.models import metadata
    from mail.service.delivery import MailWorker
    from mail.service.requests import Ingest

    settings = _settings(Path(var_dir), app_url, owner_url, smtp_url)
    db = Database(settings.database_url, pool_size=4)
    mail = MailSettings.from_settings(settings)
    if phase == "ingest":
        requests = {t: [] for t in TENANTS}
        for i in range(MESSAGES):
            tenant = TENANTS[i % len(TENANTS)]
            purpose = "transactional" if i % 10 == 0 else "marketing"
            requests[tenant].append((build_request(
                to=[{"address": f"person{i}@example.com", "name": f"Persön {i}"}], subject=f"Neuigkeiten für Sie #{i}",
                purpose=purpose, text=f"Hallo {i},\n\nunser Angebot der Woche.\n", html=f"<p>Hallo <b>{i}</b></p>",
                headers={"List-Unsubscribe": f"<https://example.com/u/{i}>"},
                refers_to={"type": "campaign", "id": "C-1"}), "campaigns"))
        ingest = Ingest(mail, Outbox("mail", metadata()))
        cpu, started = time.process_time(), time.perf_counter()
        for tenant, items in requests.items():
            for start in range(0, len(items), 500):
                with tenant_context(tenant), db.transaction() as session:
                    ingest.queue(session, items[start:start + 500])
    else:
        worker = MailWorker.from_settings(settings, db)
        worker.idle_sleep = 0.05
        cpu, started = time.process_time(), time.perf_counter()
        idle = 0
        while idle < 3 and time.perf_counter() - started < WORKER_TIMEOUT:
            idle = idle + 1 if worker.deliver_due() == 0 else 0
        worker.close()
    print(json.dumps({"messages": MESSAGES, "seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu}))


class BackendSampler:
    """CPU seconds of the database's backends, sampled while they live (they exit with the worker)."""

    def __init__(self, pids: Any) -> None:
        self.pids = pids
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.before: set[int] = set()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                for pid, seconds in cpu_seconds_by_pid(self.pids()).items():
                    self.first.setdefault(pid, seconds)
                    self.last[pid] = seconds
            except Exception:  # noqa: BLE001 - a sample lost is a sample lost
                pass
            self.stop.wait(0.2)

    def __enter__(self) -> BackendSampler:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)

    def seconds(self) -> float:
        # A backend that appeared during the phase is the worker's new connection: all its CPU counts.
        return sum(last - (self.first[p] if p in self.before else 0.0) for p, last in self.last.items())


def phase(name: str, var_dir: Path, app_url: str, owner_url: str, smtp_url: str, backends: Any) -> dict[str, Any]:
    before = set(backends())
    sampler = BackendSampler(backends)
    sampler.before = before
    with sampler:
        out = subprocess.run([sys.executable, __file__, "--child", name, str(var_dir), app_url, owner_url, smtp_url],
                             capture_output=True, text=True, timeout=WORKER_TIMEOUT + 60, cwd=ROOT)
    if out.returncode != 0:
        sys.stderr.write(out.stderr[-4000:])
        raise SystemExit(f"{name} worker failed ({out.returncode})")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["pg_cpu"] = sampler.seconds()
    return result


def main() -> None:
    from crm_db.migrate import upgrade
    from crm_testing.db import create_service_database
    from crm_testing.smtp import SmtpSink
    from mail import __file__ as mail_file

    admin = pg_admin_url()
    drop_databases(admin, [DATABASE])
    owner_url, app_url = create_service_database(admin, DATABASE)
    upgrade(Path(mail_file).resolve().parents[1] / "migrations", owner_url)
    backends = pg_backends(admin, [DATABASE])
    try:
        with tempfile.TemporaryDirectory() as tmp, SmtpSink(keep=False) as sink:
            _prepare(app_url, owner_url, Path(tmp), sink.url)
            print(f"mail send bench: {MESSAGES} messages, {len(TENANTS)} tenants, {CONNECTIONS} SMTP connections, "
                  f"rounds of {BATCH}")
            for name in ("ingest", "send"):
                r = phase(name, Path(tmp), app_url, owner_url, sink.url, backends)
                n = r["messages"]
                print(f"  {name:<6} {n / r['seconds']:8.0f} messages/s  {r['seconds']:7.1f} s  "
                      f"CPU s per 1,000: worker {r['cpu'] * 1000 / n:.3f}, postgres {r['pg_cpu'] * 1000 / n:.3f}")
            if not sink.wait_for(MESSAGES, timeout=30):
                raise SystemExit(f"the sink received {sink.count} of {MESSAGES} messages")
            print(f"  sink received {sink.count} messages over {sink.connections} connections")
    finally:
        drop_databases(admin, [DATABASE])


def _prepare(app_url: str, owner_url: str, var_dir: Path, smtp_url: str) -> None:
    """Tenant 1 signs with DKIM from its verified default sender."""
    from crm_core.context import tenant_context
    from crm_db.base import utcnow
    from crm_db.database import Database
    from mail.models import Sender
    from mail.service import dkim

    db = Database(_settings(var_dir, app_url, owner_url, smtp_url).database_url, pool_size=1)
    with tenant_context(TENANTS[0]), db.transaction() as session:
        dkim.create_key(session, "example.com", "crm")
        session.add(Sender(address="news@example.com", name="Nachrichten", verified_at=utcnow(), is_default=True))
    db.dispose()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:7])
    else:
        main()
