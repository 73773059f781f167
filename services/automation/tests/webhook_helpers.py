"""Test helpers of the automation service: a local receiver, a fake clock, events on the log."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import types
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from automation.consumer import GROUP, TOPICS, handlers
from automation.sender import Sender
from automation.worker import DeliveryWorker
from crm_db.base import utcnow
from crm_events.envelope import Event, topic_for
from crm_events.log import OutgoingRecord, open_publisher
from crm_testing.apps import ServiceHarness, drain


def worker_for(svc: ServiceHarness, **kwargs: Any) -> DeliveryWorker:
    if not kwargs:
        return DeliveryWorker.from_settings(svc.settings, svc.db)
    allow_private = kwargs.pop("allow_private", True)
    return DeliveryWorker(svc.db, Sender(allow_private=allow_private, timeout=kwargs.pop("timeout", 5.0)), **kwargs)


class Clock:
    """A fake clock for deliver_due: starts now, moves only when told."""

    def __init__(self) -> None:
        self.now = utcnow()

    def tick(self, seconds: float = 1.0) -> dt.datetime:
        self.now += dt.timedelta(seconds=seconds)
        return self.now


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    method: str = "POST"


@dataclass
class Receiver:
    """A local HTTP endpoint: answers POSTs with the scripted statuses (then 200) and records them."""

    url: str
    statuses: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)


def make_handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            receiver.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, self.command))
            status = receiver.statuses.pop(0) if receiver.statuses else 200
            answer = b'{"received": true}'
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_PUT = do_PATCH = do_DELETE = do_POST  # noqa: N815 - workflow steps may use these

        def log_message(self, *_args: Any) -> None:
            pass

    return Handler


def create_webhook(svc: ServiceHarness, tenant: str, url: str, event_types: list[str] | None = None,
                   **body: Any) -> dict[str, Any]:
    resp = svc.client.post("/v1/webhooks", json={"url": url, "event_types": event_types or ["*"], **body},
                           headers=svc.headers(tenant))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def publish_event(svc: ServiceHarness, tenant: str, event_type: str, source: str = "contacts",
                  data: dict[str, Any] | None = None) -> Event:
    """An event as another service's relay would put it on the log."""
    subject = str(uuid.uuid4())
    event = Event(type=event_type, source=source, tenant_id=str(svc.tenant(tenant)), subject=subject,
                  data=data or {"id": subject})
    publisher = open_publisher(svc.settings)
    try:
        publisher.publish([OutgoingRecord(topic_for(source, event_type), subject, event.to_json().encode(),
                                          {"event_id": event.id, "event_type": event.type})])
    finally:
        publisher.close()
    return event


def consume(svc: ServiceHarness) -> int:
    runner = svc.consumer(GROUP, list(TOPICS), handlers())
    try:
        return drain(runner, max_polls=50)
    finally:
        runner.subscriber.close()


def fake_dns(answers: dict[str, str]) -> types.SimpleNamespace:
    """Stands in for the socket module inside automation.urls only (the receiver keeps real sockets)."""

    def getaddrinfo(host: str, port: int, *_args: Any, **_kwargs: Any) -> list[tuple[Any, ...]]:
        address = answers.get(host, host)
        family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    return types.SimpleNamespace(getaddrinfo=getaddrinfo, gaierror=socket.gaierror, SOCK_STREAM=socket.SOCK_STREAM)
