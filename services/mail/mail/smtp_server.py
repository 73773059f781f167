"""The inbound SMTP server (`python -m mail smtp`): aiosmtpd on CRM_INBOUND_SMTP_HOST:PORT.

Refusals happen in the dialogue, never after a 250: a recipient that names no mailbox of ours is
refused at RCPT (550 5.1.1), another domain is no relay (550 5.7.1), and an oversize message is
refused with 552 5.3.4 (declared with MAIL FROM SIZE= or counted during DATA). An accepted
message is parsed, stored in each recipient tenant and announced (outbox) before the 250 goes out,
so a 250 is never a message lost. The blocking work runs in a thread pool, off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, AnyStr

from aiosmtpd.smtp import SMTP, Envelope, Session
from prometheus_client import start_http_server

from crm_core.metrics import metrics, use_process_local_values
from crm_core.settings import Settings
from crm_db.database import Database
from crm_db.roles import check_app_role
from crm_events.outbox import Outbox
from mail.config import MailSettings
from mail.models import metadata
from mail.service.inbound import Receiver
from mail.service.routing import BAD_ADDRESS, NO_SUCH_MAILBOX, RELAY_DENIED, Route

log = logging.getLogger(__name__)

MAX_RECIPIENTS = 100
TOO_BIG = "552 5.3.4 Message size exceeds fixed maximum message size"
TRY_LATER = "451 4.3.0 Temporary failure; please try again later"
TOO_MANY = "452 4.5.3 Too many recipients"
REASONS = {NO_SUCH_MAILBOX: "no_such_mailbox", RELAY_DENIED: "relay_denied", BAD_ADDRESS: "bad_address"}


def count(outcome: str, reason: str) -> None:
    """crm_mail_inbound_total{outcome: accepted|refused|oversize|error, reason} (best effort)."""
    metrics().mail_inbound.labels(outcome, reason).inc()


class InboundHandler:
    """aiosmtpd hooks: RCPT routes (or refuses) each recipient, DATA delivers to every route."""

    def __init__(self, receiver: Receiver, executor: ThreadPoolExecutor) -> None:
        self.receiver = receiver
        self.executor = executor

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            count("refused", "too_many_recipients")
            return TOO_MANY
        try:
            route = await asyncio.get_running_loop().run_in_executor(self.executor, self.receiver.route, address)
        except Exception:
            log.exception("could not route an inbound recipient")
            count("error", "routing")
            return TRY_LATER
        if isinstance(route, str):
            count("refused", REASONS.get(route, "other"))
            return route
        envelope.rcpt_tos.append(address)
        routes: list[Route] = getattr(envelope, "crm_routes", [])
        envelope.crm_routes = [*routes, route]  # type: ignore[attr-defined]
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        routes = getattr(envelope, "crm_routes", [])
        try:
            ids = await asyncio.get_running_loop().run_in_executor(
                self.executor, self.receiver.deliver, raw, envelope.mail_from, routes)
        except Exception:
            log.exception("could not store an inbound message")
            count("error", "storage")
            return TRY_LATER
        count("accepted", "ok")
        return f"250 2.0.0 OK: queued as {ids[0] if ids else '-'}"


class _Smtp(SMTP):
    async def push(self, status: AnyStr) -> None:
        # aiosmtpd's own size refusals carry no enhanced status code (RFC 3463 wants 5.3.4).
        if isinstance(status, str) and status.startswith("552 Error"):
            count("oversize", "too_big")
            status = TOO_BIG  # type: ignore[assignment]
        await super().push(status)


class InboundSmtpServer:
    """The server on its own event loop thread: start() binds (port 0: a free one) and returns
    the address; stop() closes it. The `smtp` command and the tests both run it this way."""

    def __init__(self, receiver: Receiver, settings: MailSettings, *, host: str | None = None,
                 port: int | None = None, workers: int = 8) -> None:
        self.receiver = receiver
        self.settings = settings
        self.host = host if host is not None else settings.inbound_smtp_host
        self.port = port if port is not None else settings.inbound_smtp_port
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smtp-store")
        self.loop = asyncio.new_event_loop()
        self.thread: threading.Thread | None = None
        self.server: asyncio.base_events.Server | None = None

    def _protocol(self) -> SMTP:
        return _Smtp(InboundHandler(self.receiver, self.executor), data_size_limit=self.settings.max_message_bytes,
                     hostname=self.settings.inbound_domain, ident="CRM inbound", loop=self.loop, timeout=120)

    def start(self) -> tuple[str, int]:
        # aiosmtpd logs every command line at INFO ("mail.log"): addresses of every dialogue.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        sock = socket.create_server((self.host, self.port), reuse_port=False)
        self.server = self.loop.run_until_complete(self.loop.create_server(self._protocol, sock=sock))
        self.thread = threading.Thread(target=self.loop.run_forever, name="smtp-loop", daemon=True)
        self.thread.start()
        address: Any = sock.getsockname()
        log.info("inbound SMTP on %s:%s for @%s", address[0], address[1], self.settings.inbound_domain)
        return address[0], address[1]

    def stop(self) -> None:
        async def close() -> None:
            if self.server is not None:
                self.server.close()
                await asyncio.wait_for(self.server.wait_closed(), 5)

        if self.thread is not None:
            try:
                asyncio.run_coroutine_threadsafe(close(), self.loop).result(timeout=10)
            except Exception:
                log.warning("inbound SMTP did not close cleanly", exc_info=True)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
        self.executor.shutdown(wait=True, cancel_futures=False)
        if not self.loop.is_running():
            self.loop.close()


def build(settings: Settings, db: Database | None = None) -> tuple[Receiver, MailSettings]:
    mail_settings = MailSettings.from_settings(settings)
    database = db or Database(settings.database_url, pool_size=8)
    return Receiver(database, Outbox(settings.service, metadata()), mail_settings), mail_settings


def run(settings: Settings) -> int:
    """`python -m mail smtp`: serve until SIGTERM/SIGINT. The worker's relay publishes what it stores."""
    use_process_local_values()
    receiver, mail_settings = build(settings)
    check_app_role(receiver.db.engine, settings.service, wait_seconds=300)
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=os.environ.get("CRM_METRICS_ADDR", "127.0.0.1"))
    server = InboundSmtpServer(receiver, mail_settings)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    host, port = server.start()
    print(f"inbound SMTP listening on {host}:{port} for <mailbox>@{mail_settings.inbound_domain}", flush=True)
    while not stop.wait(0.5):
        pass
    server.stop()
    receiver.db.dispose()
    return 0
