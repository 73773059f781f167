"""Messages and attachments under row-level security (PostgreSQL, the app role): another tenant
can't list, read, post or download, nor thread mail onto them; one email is one message."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conversation_helpers import create, deliver, mail_requests, post, received, tickets, timeline

import tickets as tickets_package
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, pg_harness
from tickets.app import create_app
from tickets.models import metadata

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_tickets(pg_admin_url: str, tmp_path: Path) -> Iterator[ServiceHarness]:
    yield from pg_harness("tickets", create_app, metadata(), migrations_dir(tickets_package.__file__), tmp_path,
                          pg_admin_url)


def test_messages_and_attachments_are_isolated_on_postgresql(pg_tickets: ServiceHarness) -> None:
    svc = pg_tickets
    c, hb = svc.client, svc.headers("b")
    rec = create(svc, requester_email="ana@example.com")
    reply = post(svc, rec["id"], kind="reply", text="secret reply", attachments=[
        {"filename": "a.txt", "content_type": "text/plain", "content_base64": base64.b64encode(b"secret").decode()}])
    note = post(svc, rec["id"], kind="note", text="secret note")
    url = reply["attachments"][0]["url"]
    assert c.get(url, headers=svc.headers("a")).data == b"secret"
    assert c.get(url, headers=hb).status_code == 404
    assert c.get(f"/v1/tickets/{rec['id']}/messages", headers=hb).status_code == 404
    for mid in (reply["id"], note["id"]):
        assert c.get(f"/v1/tickets/{rec['id']}/messages/{mid}", headers=hb).status_code == 404
    assert c.post(f"/v1/tickets/{rec['id']}/messages", json={"kind": "note", "text": "x"}, headers=hb).status_code == 404
    # B's reply address with A's token and thread ids: nothing anywhere.
    deliver(svc, "b", received("b", tag="t", token=mail_requests(svc)[0]["reply_token"],
                               in_reply_to=reply["message_id"], text="cross"))
    assert tickets(svc, "b") == [] and len(timeline(svc, rec["id"])) == 2
    # One email twice (the +support copy and the reply-address copy): one message.
    data = received(tag="t", token=mail_requests(svc)[0]["reply_token"], text="once")
    deliver(svc, "a", data)
    deliver(svc, "a", {**data, "id": str(uuid.uuid4()), "tag": "support", "token": None})
    assert [m["text"] for m in timeline(svc, rec["id"])] == ["secret reply", "secret note", "once"]
