"""Events to deliveries to signed POSTs: consumer fan-out, the delivery loop, retries and history.

Every loop is bounded: drain() stops after idle polls, deliver_due() handles one batch, and the
local receiver answers at once.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import threading
import time
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from webhook_helpers import Clock, Receiver, consume, create_webhook, fake_dns, publish_event, worker_for

import automation.urls
from automation.deliveries import fan_out
from automation.models import WebhookDelivery, delivery_queue
from automation.worker import MAX_ATTEMPTS
from crm_core.context import tenant_context
from crm_db.base import utcnow
from crm_testing.apps import ServiceHarness


def deliveries(svc: ServiceHarness, tenant: str, webhook_id: str, query: str = "") -> dict[str, Any]:
    resp = svc.client.get(f"/v1/webhooks/{webhook_id}/deliveries{query}", headers=svc.headers(tenant))
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def outcome_count(outcome: str) -> float:
    return REGISTRY.get_sample_value("crm_webhook_deliveries_total", {"outcome": outcome}) or 0.0


def queue_size(svc: ServiceHarness) -> int:
    with svc.db.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(delivery_queue)).scalar_one()


def test_event_is_delivered_signed(open_service: ServiceHarness, receiver: Receiver) -> None:
    svc = open_service
    hook = create_webhook(svc, "a", receiver.url, ["crm.contact.*"])
    event = publish_event(svc, "a", "crm.contact.created", data={"id": "c-1", "email": "ada@example.com"})
    assert consume(svc) == 1
    before = outcome_count("success")
    assert worker_for(svc).deliver_due() == 1
    assert len(receiver.requests) == 1
    got = receiver.requests[0]
    assert got.path == "/hooks"
    assert got.headers["content-type"] == "application/json" and got.headers["user-agent"] == "crm-webhooks/1"
    assert got.headers["webhook-id"] == event.id
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 60
    # verify independently of the service's signing code
    key = base64.b64decode(hook["secret"].removeprefix("whsec_"))
    signed = f"{event.id}.{got.headers['webhook-timestamp']}.".encode() + got.body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert hmac.compare_digest(got.headers["webhook-signature"], expected)
    envelope = json.loads(got.body)
    assert envelope["id"] == event.id and envelope["type"] == "crm.contact.created"
    assert envelope["tenant_id"] == str(svc.tenant("a")) and envelope["data"]["email"] == "ada@example.com"
    listed = deliveries(svc, "a", hook["id"])["data"]
    assert len(listed) == 1 and listed[0]["status"] == "succeeded" and listed[0]["attempt_count"] == 1
    assert listed[0]["attempts"][0]["status_code"] == 200 and listed[0]["attempts"][0]["response"] == '{"received": true}'
    assert listed[0]["payload"] == envelope
    assert outcome_count("success") == before + 1
    assert queue_size(svc) == 0 and worker_for(svc).deliver_due() == 0


def test_failures_are_retried_and_every_attempt_is_listed(open_service: ServiceHarness, receiver: Receiver) -> None:
    svc = open_service
    receiver.statuses = [500, 500, 200]
    hook = create_webhook(svc, "a", receiver.url, ["crm.deal.*"])
    publish_event(svc, "a", "crm.deal.won", source="pipeline")
    consume(svc)
    worker, clock = worker_for(svc), Clock()
    retries = outcome_count("retry")
    for _ in range(3):  # base delay 0: each attempt is due at once
        assert worker.deliver_due(clock.tick()) == 1
    assert worker.deliver_due(clock.tick()) == 0
    assert len(receiver.requests) == 3
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1  # one message id across retries
    delivery = deliveries(svc, "a", hook["id"])["data"][0]
    assert delivery["status"] == "succeeded" and delivery["attempt_count"] == 3
    assert [(a["attempt"], a["status_code"]) for a in delivery["attempts"]] == [(1, 500), (2, 500), (3, 200)]
    assert delivery["attempts"][0]["error"] == "The receiver answered HTTP 500."
    assert all(a["duration_ms"] >= 0 and a["at"].endswith("Z") for a in delivery["attempts"])
    assert outcome_count("retry") == retries + 2
    one = svc.client.get(f"/v1/webhooks/{hook['id']}/deliveries/{delivery['id']}", headers=svc.headers("a"))
    assert one.status_code == 200 and one.get_json()["attempts"] == delivery["attempts"]


def test_backoff_waits_between_attempts(open_service: ServiceHarness, receiver: Receiver) -> None:
    svc = open_service
    receiver.statuses = [503, 503]
    hook = create_webhook(svc, "a", receiver.url)
    publish_event(svc, "a", "crm.contact.updated")
    consume(svc)
    worker, clock = worker_for(svc, retry_base=5.0), Clock()
    assert worker.deliver_due(clock.now) == 1
    first = deliveries(svc, "a", hook["id"])["data"][0]
    due = dt.datetime.fromisoformat(first["next_attempt_at"])
    assert dt.timedelta(seconds=5) <= due - clock.now < dt.timedelta(seconds=7)
    assert worker.deliver_due(clock.tick(4)) == 0  # not due yet
    assert worker.deliver_due(clock.tick(3)) == 1  # second attempt after ~5s
    second = deliveries(svc, "a", hook["id"])["data"][0]
    wait = dt.datetime.fromisoformat(second["next_attempt_at"]) - clock.now
    assert dt.timedelta(seconds=30) <= wait < dt.timedelta(seconds=38)  # then ~30s
    assert worker.deliver_due(clock.tick(20)) == 0
    assert worker.deliver_due(clock.tick(20)) == 1
    assert deliveries(svc, "a", hook["id"])["data"][0]["status"] == "succeeded"


def test_gives_up_after_the_last_attempt_and_retry_requeues(open_service: ServiceHarness, receiver: Receiver) -> None:
    svc = open_service
    receiver.statuses = [500] * MAX_ATTEMPTS
    hook = create_webhook(svc, "a", receiver.url)
    publish_event(svc, "a", "crm.ticket.created", source="tickets")
    consume(svc)
    worker, clock = worker_for(svc), Clock()
    failed = outcome_count("failed")
    for _ in range(MAX_ATTEMPTS + 2):
        worker.deliver_due(clock.tick(3600))
    delivery = deliveries(svc, "a", hook["id"])["data"][0]
    assert delivery["status"] == "failed" and delivery["attempt_count"] == MAX_ATTEMPTS
    assert len(delivery["attempts"]) == MAX_ATTEMPTS and delivery["next_attempt_at"] is None
    assert len(receiver.requests) == MAX_ATTEMPTS and outcome_count("failed") == failed + 1
    assert queue_size(svc) == 0
    assert deliveries(svc, "a", hook["id"], "?status=failed")["data"][0]["id"] == delivery["id"]
    assert deliveries(svc, "a", hook["id"], "?status=succeeded")["data"] == []
    # a manual retry puts it back in the queue, due now; the receiver has recovered
    url = f"/v1/webhooks/{hook['id']}/deliveries/{delivery['id']}/retry"
    assert svc.client.post(url, headers=svc.headers("b")).status_code == 404
    resp = svc.client.post(url, headers=svc.headers("a"))
    assert resp.status_code == 202 and resp.get_json()["status"] == "pending"
    assert worker.deliver_due() == 1
    again = deliveries(svc, "a", hook["id"])["data"][0]
    assert again["status"] == "succeeded" and again["attempts"][-1]["status_code"] == 200


def test_redirects_and_unreachable_receivers_are_failed_attempts(open_service: ServiceHarness,
                                                                 receiver: Receiver) -> None:
    svc = open_service
    receiver.statuses = [302]
    redirected = create_webhook(svc, "a", receiver.url)
    gone = create_webhook(svc, "a", "http://127.0.0.1:9/nothing-listens-here", ["crm.contact.created"])
    publish_event(svc, "a", "crm.contact.created")
    consume(svc)
    assert worker_for(svc).deliver_due() == 2
    assert len(receiver.requests) == 1  # the redirect was not followed
    attempt = deliveries(svc, "a", redirected["id"])["data"][0]["attempts"][0]
    assert attempt["status_code"] == 302 and "302" in attempt["error"]
    refused = deliveries(svc, "a", gone["id"])["data"][0]
    assert refused["status"] == "pending" and refused["attempts"][0]["status_code"] is None
    assert refused["last_error"] and "Connection" in refused["last_error"]


def test_test_ping_goes_through_the_same_path(open_service: ServiceHarness, receiver: Receiver) -> None:
    svc = open_service
    hook = create_webhook(svc, "a", receiver.url, ["crm.deal.won"])
    resp = svc.client.post(f"/v1/webhooks/{hook['id']}/test", headers=svc.headers("a"))
    assert resp.status_code == 202 and resp.get_json()["event_type"] == "crm.webhook.test"
    assert resp.headers["Location"].endswith(resp.get_json()["id"])
    assert worker_for(svc).deliver_due() == 1
    ping = json.loads(receiver.requests[0].body)
    assert ping["type"] == "crm.webhook.test" and ping["data"]["webhook_id"] == hook["id"]
    assert receiver.requests[0].headers["webhook-id"] == ping["id"]
    svc.client.patch(f"/v1/webhooks/{hook['id']}", json={"active": False}, headers=svc.headers("a"))
    inactive = svc.client.post(f"/v1/webhooks/{hook['id']}/test", headers=svc.headers("a"))
    assert inactive.status_code == 409 and "active" in inactive.get_json()["errors"]


def test_events_reach_only_matching_active_subscriptions_of_their_tenant(open_service: ServiceHarness,
                                                                         receiver: Receiver) -> None:
    svc = open_service
    a_deals = create_webhook(svc, "a", receiver.url, ["crm.deal.*"])
    a_contacts = create_webhook(svc, "a", receiver.url, ["crm.contact.deleted"])
    a_off = create_webhook(svc, "a", receiver.url, ["*"], active=False)
    b_all = create_webhook(svc, "b", receiver.url, ["*"])
    publish_event(svc, "a", "crm.deal.stage_changed", source="pipeline")
    publish_event(svc, "a", "crm.tenant.created", source="gateway")
    assert consume(svc) == 2
    assert len(deliveries(svc, "a", a_deals["id"])["data"]) == 1
    assert deliveries(svc, "a", a_contacts["id"])["data"] == []
    assert deliveries(svc, "a", a_off["id"])["data"] == []
    assert deliveries(svc, "b", b_all["id"])["data"] == []  # A's events never trigger B's subscriptions
    # B cannot reach A's deliveries, even through its own subscription's URL
    a_delivery = deliveries(svc, "a", a_deals["id"])["data"][0]["id"]
    hb = svc.headers("b")
    assert svc.client.get(f"/v1/webhooks/{a_deals['id']}/deliveries", headers=hb).status_code == 404
    assert svc.client.get(f"/v1/webhooks/{a_deals['id']}/deliveries/{a_delivery}", headers=hb).status_code == 404
    assert svc.client.get(f"/v1/webhooks/{b_all['id']}/deliveries/{a_delivery}", headers=hb).status_code == 404
    assert svc.client.post(f"/v1/webhooks/{b_all['id']}/deliveries/{a_delivery}/retry", headers=hb).status_code == 404
    # B's own event reaches B's subscription, and only it
    publish_event(svc, "b", "crm.contact.deleted")
    consume(svc)
    assert len(deliveries(svc, "b", b_all["id"])["data"]) == 1
    assert deliveries(svc, "a", a_contacts["id"])["data"] == []
    assert worker_for(svc).deliver_due() == 2
    assert sorted(json.loads(r.body)["tenant_id"] for r in receiver.requests) == sorted(
        [str(svc.tenant("a")), str(svc.tenant("b"))])


def test_a_redelivered_event_is_kept_once(open_service: ServiceHarness) -> None:
    svc = open_service
    hook = create_webhook(svc, "a", "http://127.0.0.1:9/x")
    event = publish_event(svc, "a", "crm.contact.created")
    consume(svc)
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:  # past the consumer's dedupe
        again = fan_out(session, event, utcnow())
    assert len(again) == 1 and str(again[0].event_id) == event.id
    assert len(deliveries(svc, "a", hook["id"])["data"]) == 1 and queue_size(svc) == 1


def test_deleting_a_subscription_drops_its_deliveries(open_service: ServiceHarness) -> None:
    svc = open_service
    hook = create_webhook(svc, "a", "http://127.0.0.1:9/x")
    publish_event(svc, "a", "crm.contact.created")
    consume(svc)
    assert queue_size(svc) == 1
    assert svc.client.delete(f"/v1/webhooks/{hook['id']}", headers=svc.headers("a")).status_code == 204
    assert queue_size(svc) == 0
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        assert session.scalars(select(WebhookDelivery)).all() == []
    assert worker_for(svc).deliver_due() == 0


def test_deliveries_page_newest_first(open_service: ServiceHarness) -> None:
    svc = open_service
    hook = create_webhook(svc, "a", "http://127.0.0.1:9/x")
    events = [publish_event(svc, "a", "crm.contact.created") for _ in range(5)]
    consume(svc)
    page1 = deliveries(svc, "a", hook["id"], "?limit=2")
    page2 = deliveries(svc, "a", hook["id"], f"?limit=2&cursor={page1['next_cursor']}")
    page3 = deliveries(svc, "a", hook["id"], f"?limit=2&cursor={page2['next_cursor']}")
    seen = [d["event_id"] for d in page1["data"] + page2["data"] + page3["data"]]
    assert seen == [e.id for e in reversed(events)] and page3["next_cursor"] is None
    bad = svc.client.get(f"/v1/webhooks/{hook['id']}/deliveries?status=lost", headers=svc.headers("a"))
    assert bad.status_code == 400 and "status" in bad.get_json()["errors"]


def test_private_address_is_refused_at_delivery_time(open_service: ServiceHarness, receiver: Receiver) -> None:
    # Saved while the operator allowed private addresses; the worker now refuses them.
    svc = open_service
    hook = create_webhook(svc, "a", receiver.url)
    publish_event(svc, "a", "crm.contact.created")
    consume(svc)
    assert worker_for(svc, allow_private=False).deliver_due() == 1
    assert receiver.requests == []
    attempt = deliveries(svc, "a", hook["id"])["data"][0]["attempts"][0]
    assert attempt["status_code"] is None and "private" in attempt["error"]


def test_dns_rebinding_is_caught_and_the_checked_address_is_used(
        automation_service: ServiceHarness, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = automation_service
    port = receiver.url.split(":")[2].split("/")[0]
    answers = {"hooks.partner.test": "93.184.216.34"}
    monkeypatch.setattr(automation.urls, "socket", fake_dns(answers))
    hook = create_webhook(svc, "a", f"http://hooks.partner.test:{port}/hooks")  # public when saved
    publish_event(svc, "a", "crm.contact.created")
    consume(svc)
    answers["hooks.partner.test"] = "127.0.0.1"  # ... and loopback by the time it is delivered
    worker = worker_for(svc)
    assert worker.deliver_due(Clock().now) == 1
    assert receiver.requests == []
    attempt = deliveries(svc, "a", hook["id"])["data"][0]["attempts"][0]
    assert "127.0.0.1" in attempt["error"] and attempt["status_code"] is None
    # With private addresses allowed, the request goes to the address just checked, named by its host.
    assert worker_for(svc, allow_private=True).deliver_due(Clock().tick(3600)) == 1
    assert receiver.requests and receiver.requests[0].headers["host"] == f"hooks.partner.test:{port}"


def test_background_loop_stops_when_told(open_service: ServiceHarness, receiver: Receiver) -> None:
    svc = open_service
    create_webhook(svc, "a", receiver.url)
    publish_event(svc, "a", "crm.contact.created")
    consume(svc)
    stop = threading.Event()
    worker = worker_for(svc)
    worker.idle_sleep = 0.05
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not receiver.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive() and len(receiver.requests) == 1
