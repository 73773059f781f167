"""notify and send_email on the whole platform: the step's events, committed to automation's outbox
as the engine does, reach pipeline (a notification the user reads) and mail (one message, however
often the step ran)."""

from __future__ import annotations

import uuid

import pytest
from workflow_action_helpers import Steps, Tenant, automation_db, commit_events

from automation.workflows.actions import actions
from automation.workflows.steps import StepError
from crm_mail.requests import SEND_REQUESTED
from crm_testing.platform import Platform, wait_for, wait_for_json

pytestmark = pytest.mark.integration

ACTIONS = actions()
NOTIFY, SEND = ACTIONS["notify"], ACTIONS["send_email"]
EMAIL = {"to": "record", "subject": "Welcome, {{ record.first_name }}",
         "body": "Hello {{ record.first_name }},\nthanks for signing up.", "html": "<p>Hello {{ record.first_name }}</p>"}


def test_notify_reaches_the_owner_in_pipeline(wf_platform: Platform, tenant_a: Tenant, steps: Steps) -> None:
    contact = tenant_a.contact(first_name="Grace")
    ctx = steps.ctx("contact", contact["id"])
    out = NOTIFY.run(ctx, {"users": ["owner"], "message": "{{ record.first_name }} asked for a demo\nCall today."})
    assert out == {"user_ids": [tenant_a.user_id], "title": "Grace asked for a demo"}
    ((event_type, subject, data),) = ctx.events
    assert (event_type, subject, data["kind"], data["subject_type"]) == \
        ("crm.notification.requested", contact["id"], "workflow", "contact")

    db = automation_db(wf_platform)
    try:
        commit_events(db, ctx)
    finally:
        db.dispose()
    page = wait_for_json(wf_platform, "/v1/notifications", tenant_a.token,
                         lambda body: any(n["subject_id"] == contact["id"] for n in body["data"]))
    (note,) = [n for n in page["data"] if n["subject_id"] == contact["id"]]
    assert (note["kind"], note["title"], note["body"], note["actor_id"]) == \
        ("workflow", "Grace asked for a demo", "Grace asked for a demo\nCall today.", None)


def test_notify_without_an_owner_or_in_a_preview_asks_nothing(tenant_a: Tenant, steps: Steps) -> None:
    contact = tenant_a.contact(owner_id=None)
    ctx = steps.ctx("contact", contact["id"])
    assert NOTIFY.run(ctx, {"users": ["owner"], "message": "Hi"}) == {"user_ids": [], "title": "Hi"}
    assert ctx.events == []
    someone = str(uuid.uuid4())
    shown = NOTIFY.preview(ctx, {"users": ["owner", someone], "message": "Hi"})
    assert shown["user_ids"] == [someone] and ctx.events == []
    with pytest.raises(StepError):
        NOTIFY.run(ctx, {"users": [someone], "message": "{{ record.nothing }}"})  # renders empty


def test_send_email_to_the_contact_once_however_often_the_step_runs(wf_platform: Platform, tenant_a: Tenant,
                                                                    steps: Steps) -> None:
    contact = tenant_a.contact(first_name="Lin")
    first = steps.ctx("contact", contact["id"])
    again = steps.ctx("contact", contact["id"], run_id=first.run_id)
    out = SEND.run(first, EMAIL)
    SEND.run(again, EMAIL)
    (event_type, subject, data), (_, _, repeat) = first.events[0], again.events[0]
    assert event_type == SEND_REQUESTED and subject == out["message_id"] == data["message_id"] == repeat["message_id"]
    assert data["to"] == [{"address": contact["email"], "name": "Lin Lovelace"}]
    assert (data["subject"], data["text"], data["html"], data["purpose"]) == \
        ("Welcome, Lin", "Hello Lin,\nthanks for signing up.", "<p>Hello Lin</p>", "marketing")
    assert data["refers_to"] == {"type": "contact", "id": contact["id"]}

    marker = steps.ctx()  # a later request: once it is in, both before it were handled (one log, in order)
    marked = SEND.run(marker, {"to": "marker@example.com", "subject": "Marker", "body": "."})
    db = automation_db(wf_platform)
    try:
        commit_events(db, first)
        commit_events(db, again)  # as if both attempts had committed: still one message
        commit_events(db, marker)
    finally:
        db.dispose()
    wait_for(lambda: tenant_a.call("GET", f"/v1/mail/messages/{marked['message_id']}")[0] == 200,
             what="the marker message")
    path = f"/v1/mail/messages?refers_to_type=contact&refers_to_id={contact['id']}"
    messages = tenant_a.ok("GET", path)["data"]
    assert [m["id"] for m in messages] == [out["message_id"]]
    assert messages[0]["to"] == [{"address": contact["email"], "name": "Lin Lovelace"}]
    assert messages[0]["subject"] == "Welcome, Lin" and messages[0]["source"] == "automation"


def test_send_email_to_a_deals_contact_a_tickets_requester_and_addresses(tenant_a: Tenant, steps: Steps) -> None:
    contact = tenant_a.contact()
    deal = tenant_a.ok("POST", "/v1/deals", {"name": "D", "contact_id": contact["id"]})
    on_deal = steps.ctx("deal", deal["id"])
    data = SEND.preview(on_deal, EMAIL)["event"]["data"]
    assert [t["address"] for t in data["to"]] == [contact["email"]]
    assert on_deal.events == []  # a preview asks for nothing

    ticket = tenant_a.ok("POST", "/v1/tickets", {"subject": "Help", "requester_email": "req@example.com"})
    shown = SEND.preview(steps.ctx("ticket", ticket["id"]), {**EMAIL, "to": "record, boss@example.com"})
    assert shown["to"] == ["req@example.com", "boss@example.com"]

    ctx = steps.ctx(trigger={"data": {"email": "hook@example.com"}})  # a run without a record
    out = SEND.run(ctx, {"to": "{{ trigger.data.email }}", "subject": "Ping", "body": "Pong"})
    assert out["to"] == ["hook@example.com"] and len(ctx.events) == 1


def test_send_email_refusals_are_not_retried(tenant_a: Tenant, tenant_b: Tenant, steps: Steps) -> None:
    no_email = tenant_a.contact(email=None)
    lone_deal = tenant_a.ok("POST", "/v1/deals", {"name": "Nobody"})
    theirs = tenant_b.contact()
    cases = [(steps.ctx("contact", no_email["id"]), EMAIL), (steps.ctx("deal", lone_deal["id"]), EMAIL),
             (steps.ctx("contact", theirs["id"]), EMAIL),  # another tenant's contact: not found
             (steps.ctx(), {**EMAIL, "to": "not an address"}), (steps.ctx(), EMAIL)]
    for ctx, params in cases:
        with pytest.raises(StepError) as failed:
            SEND.run(ctx, params)
        assert not failed.value.retryable, failed.value.message
        assert ctx.events == []
