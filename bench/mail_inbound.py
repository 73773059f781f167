"""Inbound mail benchmark: 10,000 messages over SMTP to `python -m mail smtp` on PostgreSQL.

A fresh database (app role, RLS on) with two tenants' mailboxes; the inbound SMTP server runs as
its own process, exactly as deployed; BENCH_MAIL_INBOUND_CONNECTIONS smtplib clients (default 4)
each keep one connection and send their share. Every message is parsed, stored (with its
attachment, when it has one) and announced through the outbox before its 250, so messages/s is
the rate of mail safely taken. CPU milliseconds per message of the smtp process and of the
PostgreSQL backends serving the bench database show where the time goes, whatever else the machine
runs. The outbox is not relayed here (no Kafka needed): that cost belongs to the worker.

Alone: `.venv/bin/python bench/mail_inbound.py`. Knobs: BENCH_MAIL_INBOUND (messages, default
10000), BENCH_MAIL_INBOUND_CONNECTIONS (4), BENCH_MAIL_INBOUND_DB (database name, made for the
run and dropped after it). Prints `mail_inbound_msgs_per_s=<x>` last. Bounded: every client has a
timeout and the whole run a deadline; only 127.0.0.1.
"""

from __future__ import annotations

import email.utils
import os
import smtplib
import socket
import subprocess
import sys
import threading
import time
import uuid
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import (  # noqa: E402
    ROOT,
    cpu_seconds_by_pid,
    drop_databases,
    free_port,
    pg_admin_url,
    pg_backends,
    process_tree,
    stop,
)

MESSAGES = int(os.environ.get("BENCH_MAIL_INBOUND", "10000").replace("_", ""))
CONNECTIONS = int(os.environ.get("BENCH_MAIL_INBOUND_CONNECTIONS", "4"))
DATABASE = os.environ.get("BENCH_MAIL_INBOUND_DB", "bench_mail_inbound")
DOMAIN = "inbound.localhost"
DEADLINE_SECONDS = 1800


def message(i: int, rcpt: str) -> bytes:
    """A typical customer mail: text and HTML, non-ASCII names; every tenth with a 20 KiB PDF."""
    msg = EmailMessage()
    msg["From"] = f"Zoë Müller {i} <zoe{i}@example.com>"
    msg["To"] = rcpt
    msg["Subject"] = f"Frage zu Angebot #{i} – bitte Rückruf"
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@example.com>"
    text = f"Hallo,\n\nich habe eine Frage zu Angebot {i}.\n" + "Viele Grüße\n" * 20
    msg.set_content(text)
    msg.add_alternative(f"<p>Hallo,</p><p>ich habe eine Frage zu <b>Angebot {i}</b>.</p>"
                        + "<p>Viele Grüße</p>" * 20, subtype="html")
    if i % 10 == 0:
        msg.add_attachment(b"%PDF-1.4\n" + os.urandom(20 * 1024), maintype="application", subtype="pdf",
                           filename=f"angebot-{i}.pdf")
    return msg.as_bytes(policy=SMTP)  # CRLF line ends, as on the wire


def prepare(admin: str) -> tuple[str, list[str]]:
    """The migrated database and two tenants' mailboxes; the app role's URL and the addresses."""
    import mail
    from crm_db.database import Database
    from crm_db.migrate import upgrade
    from crm_runtime.service import migrations_dir
    from crm_testing.db import create_service_database
    from mail.service.mailboxes import mailbox_for

    owner_url, app_url = create_service_database(admin, DATABASE)
    upgrade(migrations_dir(mail.__file__), owner_url)
    db = Database(app_url, pool_size=1)
    with db.transaction() as session:
        boxes = [mailbox_for(session, uuid.uuid4(), name_hint=name).name for name in ("acme", "bolt")]
    db.dispose()
    return app_url, [f"{boxes[0]}+support@{DOMAIN}", f"{boxes[1]}@{DOMAIN}"]


def start_smtp(app_url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CRM_DATABASE_URL": app_url, "CRM_DATABASE_OWNER_URL": app_url,
           "CRM_INBOUND_SMTP_HOST": "127.0.0.1", "CRM_INBOUND_SMTP_PORT": str(port), "CRM_INBOUND_DOMAIN": DOMAIN,
           "CRM_METRICS_PORT": "0", "CRM_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "mail", "smtp"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the smtp process exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(100).startswith(b"220"):
                    return proc
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the smtp process did not start listening")


def send_all(port: int, rcpts: list[str], payloads: list[bytes]) -> list[str]:
    errors: list[str] = []
    share = [list(range(c, len(payloads), CONNECTIONS)) for c in range(CONNECTIONS)]
    deadline = time.monotonic() + DEADLINE_SECONDS

    def client(indexes: list[int]) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=60, local_hostname="bench.example") as smtp:
                for i in indexes:
                    if time.monotonic() > deadline:
                        errors.append("deadline")
                        return
                    refused = smtp.sendmail(f"zoe{i}@example.com", [rcpts[i % len(rcpts)]], payloads[i])
                    if refused:
                        errors.append(str(refused))
        except (smtplib.SMTPException, OSError) as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=client, args=(s,)) for s in share]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=DEADLINE_SECONDS + 60)
    return errors


def stored(app_url: str) -> int:
    from sqlalchemy import text

    from crm_db.database import Database

    db = Database(app_url, pool_size=1)
    with db.engine.connect() as conn:  # inbound_messages is under RLS; the outbox (one row each) is not
        count = conn.execute(text("select count(*) from outbox where event_type = 'crm.mail.received'")).scalar_one()
    db.dispose()
    return int(count)


def main() -> None:
    admin = pg_admin_url()
    app_url, rcpts = prepare(admin)
    port = free_port()
    proc = start_smtp(app_url, port)
    try:
        payloads = [message(i, rcpts[i % len(rcpts)]) for i in range(MESSAGES)]
        warmup = [message(MESSAGES + i, rcpts[i % len(rcpts)]) for i in range(50)]
        warm = send_all(port, rcpts, warmup)  # pools, plans, imports (other Message-IDs: no duplicates)
        assert not warm, warm[:3]
        backends = pg_backends(admin, [DATABASE])
        pids = process_tree(proc.pid)
        smtp_before, pg_before = cpu_seconds_by_pid(pids), cpu_seconds_by_pid(backends())
        started = time.perf_counter()
        errors = send_all(port, rcpts, payloads)
        seconds = time.perf_counter() - started
        smtp_now = cpu_seconds_by_pid(sorted(set(process_tree(proc.pid)) | set(smtp_before)))
        pg_pids = sorted(set(backends()) | set(pg_before))
        pg_now = cpu_seconds_by_pid(pg_pids)
    finally:
        stop(proc)
    smtp_cpu = sum(v - smtp_before.get(p, 0.0) for p, v in smtp_now.items())
    pg_cpu = sum(v - pg_before.get(p, 0.0) for p, v in pg_now.items())
    total = stored(app_url) - 50
    drop_databases(admin, [DATABASE])
    rate = MESSAGES / seconds
    print(f"mail_inbound messages={MESSAGES} connections={CONNECTIONS} seconds={seconds:.2f} "
          f"errors={len(errors)} stored_events={total}")
    if errors:
        print(f"mail_inbound first errors: {errors[:3]}")
    print(f"mail_inbound smtp_cpu_ms_per_msg={smtp_cpu * 1000 / MESSAGES:.2f} "
          f"postgres_cpu_ms_per_msg={pg_cpu * 1000 / MESSAGES:.2f}")
    print(f"mail_inbound_msgs_per_s={rate:.0f}")


if __name__ == "__main__":
    main()
