"""Each attempt has one deadline (DNS included), and one tenant's slow endpoint or backlog never
holds up another tenant's deliveries. Real local receivers: one drips its answer a byte at a time."""

from __future__ import annotations

import threading
import time
import types
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select
from webhook_helpers import Receiver, consume, create_webhook, publish_event, worker_for

import automation.urls
from automation.models import WebhookAttempt, WebhookDelivery, delivery_queue
from automation.sender import Sender
from automation.signing import generate_secret
from crm_core.context import tenant_context
from crm_db.base import utcnow
from crm_testing.apps import ServiceHarness


class Drip:
    """A receiver that answers one byte every `interval` seconds (a status line would take minutes)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.stop = threading.Event()
        self.connections = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/slow"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        drip = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with drip.lock:
                    drip.connections += 1
                for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":  # bounded: ~40 bytes
                    if drip.stop.wait(drip.interval):
                        return
                    try:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                    except OSError:  # the client gave up: what we want
                        return

            def log_message(self, *_args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def drip() -> Iterator[Drip]:
    server = Drip(interval=1.0)
    thread = threading.Thread(target=server.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.server.shutdown()
        server.server.server_close()
        thread.join(timeout=5)


def test_a_dripping_receiver_is_cut_off_at_the_deadline(drip: Drip) -> None:
    sender = Sender(allow_private=True, timeout=2.0)
    try:
        result = sender.send(drip.url, generate_secret(), "m-1", b"{}")
    finally:
        sender.close()
    # Each byte came well within any per-read timeout; only the overall deadline stops it.
    assert result.status_code is None and result.error and result.error.startswith("Timeout")
    assert "reading the answer" in result.error
    assert 1500 <= result.duration_ms < 6000  # about the deadline, far below the ~40 s the drip would take


def test_a_slow_dns_answer_is_cut_off_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def slow_getaddrinfo(*_args: Any, **_kwargs: Any) -> list[Any]:
        release.wait(30)  # a resolver that takes its time (bounded, released at the end)
        raise OSError("never answers")

    fake = types.SimpleNamespace(getaddrinfo=slow_getaddrinfo, gaierror=OSError, SOCK_STREAM=1)
    monkeypatch.setattr(automation.urls, "socket", fake)
    sender = Sender(allow_private=True, timeout=1.0)
    try:
        result = sender.send("http://hooks.slow-dns.test/in", generate_secret(), "m-1", b"{}")
    finally:
        release.set()
        sender.close()
    assert result.status_code is None and result.error and "did not resolve in time" in result.error
    assert result.duration_ms < 5000


@pytest.fixture(params=["sqlite", "postgresql"])
def service(request: pytest.FixtureRequest) -> ServiceHarness:
    name = "open_service" if request.param == "sqlite" else "pg_open_service"
    return request.getfixturevalue(name)


def attempts_of(svc: ServiceHarness, tenant: str) -> list[WebhookAttempt]:
    with tenant_context(svc.tenant(tenant)), svc.db.transaction() as session:
        return list(session.scalars(select(WebhookAttempt)))


def test_a_slow_tenant_does_not_hold_up_another(service: ServiceHarness, receiver: Receiver, drip: Drip) -> None:
    svc = service
    create_webhook(svc, "a", drip.url)
    create_webhook(svc, "b", receiver.url)
    for _ in range(6):  # A's backlog is older than all of B's events
        publish_event(svc, "a", "crm.contact.created")
    for _ in range(3):
        publish_event(svc, "b", "crm.contact.created")
    assert consume(svc) == 9
    worker = worker_for(svc, timeout=3.0, concurrency=3, tenant_concurrency=2)
    worker.idle_sleep = 0.05
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while len(receiver.requests) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        # All of B's deliveries arrived while A's first attempts were still dripping...
        assert len(receiver.requests) == 3
        assert attempts_of(svc, "a") == []
        # ... and A never had more than its share of the pool in flight (its second attempt may
        # not have connected yet when B's last delivery lands).
        assert 1 <= drip.connections <= 2
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    a_attempts = attempts_of(svc, "a")
    assert a_attempts and all(a.status_code is None and (a.error or "").startswith("Timeout") for a in a_attempts)
    assert all(a.duration_ms < 6000 for a in a_attempts)
    with tenant_context(svc.tenant("b")), svc.db.transaction() as session:
        assert {d.status for d in session.scalars(select(WebhookDelivery))} == {"succeeded"}


def test_claims_take_every_tenants_oldest_first(service: ServiceHarness) -> None:
    svc = service
    for tenant in ("a", "b", "c"):
        create_webhook(svc, tenant, "http://127.0.0.1:9/x")
    for tenant, count in (("a", 5), ("b", 1), ("c", 2)):
        for _ in range(count):
            publish_event(svc, tenant, "crm.contact.created")
    consume(svc)
    worker = worker_for(svc, tenant_concurrency=2)
    now = utcnow()
    first = worker._claim(now, 3, {})
    assert sorted(t for t, _ in first) == sorted(svc.tenant(t) for t in ("a", "b", "c"))  # one each
    # a has one in flight (room for one more), c is at its cap: only a's next one.
    second = worker._claim(now, 10, {svc.tenant("a"): 1, svc.tenant("c"): 0})
    assert [t for t, _ in second] == [svc.tenant("a")]
    assert worker._claim(now, 10, {svc.tenant("a"): 0, svc.tenant("c"): 0}) == []  # b has nothing left
    with svc.db.engine.begin() as conn:  # leased rows are not due any more
        due = conn.execute(select(delivery_queue.c.delivery_id).where(delivery_queue.c.due_at <= now)).all()
    assert len(due) == 8 - 4

