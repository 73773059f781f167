"""Every workflow step and action end to end on PostgreSQL + Kafka (and aiosmtpd for mail in and
out), past what test_workflows_flow.py covers: condition branches on custom fields; waits for a
deal's move, for the contact's reply, and their timeouts; every kind of delay (business hours
included); assign_owner both ways, tags, create_deal, notify, send_email (once, though its step
ran twice), call_webhook to a local receiver, enrol and stop_workflow; a loop no save-time check
can see, stopped at runtime by its causation chain; the per-tenant limits and their metrics; and
an import that starts no workflow excluding imports.

The rig (workflow_rig.py) runs automation's loops in this process on an OffsetClock, so a day's
delay is a clock jump; the other services' workers are processes.
"""

from __future__ import annotations

import collections
import datetime as dt
import email
import email.utils
import json
import smtplib
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from prometheus_client.parser import text_string_to_metric_families
from workflow_rig import Rig, get_run, list_runs, ok, step_of, wait_run, wait_runs, workflow_rig

from automation import signing
from automation.workflows.steps import Action, StepContext, StepError, Writes
from crm_testing.platform import Platform, wait_for, wait_for_json
from crm_testing.smtp import SmtpSink

pytestmark = pytest.mark.integration

WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as s:
        yield s


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory, pg_admin_url: str, kafka_bootstrap: str, sink: SmtpSink) -> Iterator[Rig]:
    mail = {"CRM_SMTP_URL": sink.url, "CRM_MAIL_RETRY_BASE_SECONDS": "0", "CRM_MAIL_SMTP_TIMEOUT_SECONDS": "5"}
    with workflow_rig(Path(tmp_path_factory.mktemp("wfsteps")), pg_admin_url, kafka_bootstrap,
                      service_extra={"mail": mail}) as running:
        yield running


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory, pg_admin_url: str, kafka_bootstrap: str) -> Iterator[Rig]:
    """A second platform whose tenants may enable 2 workflows and start 3 runs a minute."""
    limits = {"CRM_WORKFLOW_MAX_ACTIVE": "2", "CRM_WORKFLOW_MAX_RUNS_PER_MINUTE": "3"}
    with workflow_rig(Path(tmp_path_factory.mktemp("wflimits")), pg_admin_url, kafka_bootstrap,
                      services=frozenset({"contacts"}), service_extra={"automation": limits}) as running:
        yield running


@pytest.fixture(scope="module")
def inbound_smtp(rig: Rig) -> tuple[str, int]:
    return rig.platform.start_inbound_smtp()


# -- helpers ----------------------------------------------------------------------------------------

def _post(platform: Platform, token: str, path: str, body: Any, status: int = 201) -> Any:
    return ok(platform.request("POST", path, body, token=token), status)


def _get(platform: Platform, token: str, path: str) -> Any:
    return ok(platform.request("GET", path, token=token))


def _patch(platform: Platform, token: str, path: str, body: Any) -> Any:
    return ok(platform.request("PATCH", path, body, token=token))


def _manual(platform: Platform, token: str, record_type: str, steps: list[dict[str, Any]], name: str = "By hand") -> dict[str, Any]:
    return _post(platform, token, "/v1/workflows",
                 {"name": name, "trigger": {"type": "manual", "record_type": record_type}, "steps": steps})


def _start(platform: Platform, token: str, workflow: Mapping[str, Any], record_ids: list[str]) -> list[str]:
    started = _post(platform, token, f"/v1/workflows/{workflow['id']}/runs", {"record_ids": record_ids}, 202)
    return [r["id"] for r in started["data"]]


def _contact(platform: Platform, token: str, **fields: Any) -> dict[str, Any]:
    return _post(platform, token, "/v1/contacts", fields)


def _deal(platform: Platform, token: str, **fields: Any) -> dict[str, Any]:
    return _post(platform, token, "/v1/deals", fields)


def _user(platform: Platform, token: str, name: str) -> dict[str, Any]:
    """A member invited with a password (as an owner adds one), and their own access token."""
    address, password = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com", "a good long password"
    user = _post(platform, token, "/v1/users", {"email": address, "name": name, "role": "member", "password": password})
    login = _post(platform, "", "/v1/auth/token", {"email": address, "password": password}, 200)
    return {**user, "access_token": login["access_token"]}


def _waiting_at(platform: Platform, token: str, run_id: str, step_id: str) -> dict[str, Any]:
    """The run once it waits at `step_id`: that step's row (its output says until when)."""
    def there() -> dict[str, Any] | None:
        run = get_run(platform, token, run_id)
        rows = [s for s in run["steps"] if s["step_id"] == step_id and s["status"] == "waiting"]
        return rows[0] if run["status"] == "waiting" and rows else None

    try:
        return wait_for(there, timeout=60, what=f"run {run_id} waiting at {step_id}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; run: {json.dumps(get_run(platform, token, run_id), indent=1)[:3000]}") from None


def _metric(platform: Platform, name: str, **labels: str) -> float:
    """A counter on automation's /metrics (its loops run in this process: the registry is this one's)."""
    text = platform.http.request("GET", platform.services["automation"].url + "/metrics").data.decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def _iso(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


# -- condition ------------------------------------------------------------------------------------

def test_a_condition_branches_on_the_record_read_fresh_custom_fields_included(rig: Rig) -> None:
    platform = rig.platform
    token = platform.signup("Branch Co")["access_token"]
    _post(platform, token, "/v1/properties/contacts", {"key": "plan", "label": "Plan", "type": "enum", "options": ["free", "pro"]})
    steps = [
        {"id": "check", "type": "condition", "condition": "plan = 'pro' and lifecycle_stage = 'customer'",
         "then": "vip", "else": "basic"},
        {"id": "vip", "type": "add_tags", "tags": ["vip"], "next": "end"},
        {"id": "basic", "type": "add_tags", "tags": ["basic"]},
    ]
    unknown = {"name": "x", "trigger": {"type": "manual", "record_type": "contact"},
               "steps": [{**steps[0], "condition": "plann = 'pro'"}, *steps[1:]]}
    assert list(_post(platform, token, "/v1/workflows", unknown, 422)["errors"]) == ["steps.check.condition"]
    wf = _manual(platform, token, "contact", steps)
    pro = _contact(platform, token, first_name="Pia", lifecycle_stage="customer", properties={"plan": "pro"})
    free = _contact(platform, token, first_name="Fred", lifecycle_stage="customer", properties={"plan": "free"})
    lead = _contact(platform, token, first_name="Lee", lifecycle_stage="lead", properties={"plan": "pro"})
    runs = dict(zip(("pro", "free", "lead"), _start(platform, token, wf, [pro["id"], free["id"], lead["id"]]), strict=True))
    done = {name: wait_run(platform, token, run_id, "completed") for name, run_id in runs.items()}
    assert [s["step_id"] for s in done["pro"]["steps"]] == ["check", "vip"]
    assert step_of(done["pro"], "check")["output"] == {"matched": True}
    assert [s["step_id"] for s in done["free"]["steps"]] == ["check", "basic"]
    assert step_of(done["free"], "check")["output"] == {"matched": False}
    assert [s["step_id"] for s in done["lead"]["steps"]] == ["check", "basic"]
    tags = {name: _get(platform, token, f"/v1/contacts/{c['id']}")["tags"] for name, c in
            (("pro", pro), ("free", free), ("lead", lead))}
    assert tags == {"pro": ["vip"], "free": ["basic"], "lead": ["basic"]}
    # The condition reads the record as it is when the step runs, not as it was when saved.
    _patch(platform, token, f"/v1/contacts/{free['id']}", {"properties": {"plan": "pro"}})
    [again] = _start(platform, token, wf, [free["id"]])
    assert [s["step_id"] for s in wait_run(platform, token, again, "completed")["steps"]] == ["check", "vip"]
    assert _get(platform, token, f"/v1/contacts/{free['id']}")["tags"] == ["basic", "vip"]


# -- wait_for_event -------------------------------------------------------------------------------

def test_a_wait_ends_when_its_deal_moves_not_another_and_times_out_otherwise(rig: Rig) -> None:
    platform, clock = rig.platform, rig.clock
    token = platform.signup("Wait Co")["access_token"]
    pipeline = next(p for p in _get(platform, token, "/v1/pipelines")["data"] if p["is_default"])
    first, second = pipeline["stages"][0]["id"], pipeline["stages"][1]["id"]
    # Every crm.deal.updated starts a run of this one: when it has one for an event, the trigger
    # consumer has handled that event (waits are ended in the same handler, before runs start).
    probe = _post(platform, token, "/v1/workflows", {
        "name": "Probe", "trigger": {"type": "event", "event": "crm.deal.updated"},
        "steps": [{"id": "noop", "type": "delay", "minutes": 0}]})
    wf = _manual(platform, token, "deal", [
        {"id": "wait", "type": "wait_for_event", "event": "crm.deal.updated", "condition": f"stage_id = '{second}'",
         "timeout_days": 3, "on_timeout": "chase"},
        {"id": "moved", "type": "create_task", "title": "Moved: {{ record.name }}", "next": "end"},
        {"id": "chase", "type": "create_task", "title": "Chase: {{ record.name }}"},
    ])
    mine, other, late = (_deal(platform, token, name=n, stage_id=first) for n in ("Mine", "Other", "Late"))
    mine_run, late_run = _start(platform, token, wf, [mine["id"], late["id"]])
    for run_id in (mine_run, late_run):
        _waiting_at(platform, token, run_id, "wait")

    def probed(deal: Mapping[str, Any], count: int) -> None:
        wait_for(lambda: len([r for r in list_runs(platform, token, probe["id"]) if r["record_id"] == deal["id"]]) >= count,
                 timeout=60, what=f"{count} probe run(s) for {deal['name']}")

    _patch(platform, token, f"/v1/deals/{other['id']}", {"stage_id": second})  # another deal moved
    probed(other, 1)
    _patch(platform, token, f"/v1/deals/{mine['id']}", {"name": "Mine renamed"})  # its deal, the condition not met
    probed(mine, 1)
    assert get_run(platform, token, mine_run)["status"] == "waiting"
    _patch(platform, token, f"/v1/deals/{mine['id']}", {"stage_id": second})
    moved = wait_run(platform, token, mine_run, "completed")
    assert [s["step_id"] for s in moved["steps"]] == ["wait", "moved"]
    assert step_of(moved, "wait")["output"]["by"] == "event"
    assert step_of(moved, "wait")["output"]["event_type"] == "crm.deal.updated"
    tasks = _get(platform, token, f"/v1/tasks?deal_id={mine['id']}")["data"]
    assert [t["title"] for t in tasks] == ["Moved: Mine renamed"]  # the record read again after the wait
    assert get_run(platform, token, late_run)["status"] == "waiting"

    clock.advance(days=3, minutes=1)
    chased = wait_run(platform, token, late_run, "completed")
    assert [s["step_id"] for s in chased["steps"]] == ["wait", "chase"]
    assert step_of(chased, "wait")["output"]["by"] == "timer"
    assert [t["title"] for t in _get(platform, token, f"/v1/tasks?deal_id={late['id']}")["data"]] == ["Chase: Late"]


def _mail(sender: str, to: str, subject: str, body: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"] = email.utils.formatdate()
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@example.com>"
    msg.set_content(body)
    return msg.as_bytes(policy=SMTP_POLICY)


def test_the_contact_replied_ends_waits_for_their_mail_and_their_activity(rig: Rig, inbound_smtp: tuple[str, int]) -> None:
    platform, clock = rig.platform, rig.clock
    token = platform.signup("Reply Co")["access_token"]
    log_address = _get(platform, token, "/v1/mail/addresses")["addresses"]["log"]
    tag = uuid.uuid4().hex[:8]
    ada = _contact(platform, token, first_name="Ada", email=f"ada-{tag}@example.com")
    bob = _contact(platform, token, first_name="Bob", email=f"bob-{tag}@example.com")
    flows = {}
    for event in ("crm.mail.received", "crm.activity.created"):
        flows[event] = _manual(platform, token, "contact", [
            {"id": "wait", "type": "wait_for_event", "event": event, "timeout_days": 2, "on_timeout": "nudge"},
            {"id": "replied", "type": "add_tags", "tags": [f"replied-{event.split('.')[1]}"], "next": "end"},
            {"id": "nudge", "type": "add_tags", "tags": [f"silent-{event.split('.')[1]}"]},
        ], name=f"Wait for {event}")
    started = {(event, who): run_id for event, wf in flows.items()
               for who, run_id in zip(("ada", "bob"), _start(platform, token, wf, [ada["id"], bob["id"]]), strict=True)}
    for run_id in started.values():
        _waiting_at(platform, token, run_id, "wait")

    with smtplib.SMTP(*inbound_smtp, timeout=10) as client:  # Ada answers, BCC'ing the CRM's log address
        assert client.sendmail(ada["email"], [log_address], _mail(f"Ada <{ada['email']}>", "sales@acme.example",
                                                                   "Re: our call", "Yes, Tuesday works.")) == {}
    for event in flows:
        replied = wait_run(platform, token, started[(event, "ada")], "completed")
        assert [s["step_id"] for s in replied["steps"]] == ["wait", "replied"], event
        assert step_of(replied, "wait")["output"]["event_type"] == event
    assert sorted(_get(platform, token, f"/v1/contacts/{ada['id']}")["tags"]) == ["replied-activity", "replied-mail"]
    # Bob wrote nothing: his waits go on until they time out.
    assert {get_run(platform, token, started[(e, "bob")])["status"] for e in flows} == {"waiting"}
    clock.advance(days=2, minutes=1)
    for event in flows:
        silent = wait_run(platform, token, started[(event, "bob")], "completed")
        assert [s["step_id"] for s in silent["steps"]] == ["wait", "nudge"], event
    assert sorted(_get(platform, token, f"/v1/contacts/{bob['id']}")["tags"]) == ["silent-activity", "silent-mail"]


# -- delays ---------------------------------------------------------------------------------------

def test_every_kind_of_delay_wakes_when_it_should(rig: Rig) -> None:
    platform, clock = rig.platform, rig.clock
    token = platform.signup("Delay Co")["access_token"]
    zone = ZoneInfo("America/New_York")
    calendar = _post(platform, token, "/v1/business-hours", {
        "name": "NY mornings", "time_zone": "America/New_York",
        "frames": {d: [{"start": "09:00", "end": "10:00"}] for d in WEEK}})
    _post(platform, token, "/v1/business-hours", {  # `business_hours: true` counts in the default one
        "name": "Lunch hour", "time_zone": "UTC", "is_default": True,
        "frames": {d: [{"start": "12:00", "end": "13:00"}] for d in WEEK}})
    base = clock()
    until = (base + dt.timedelta(days=2)).replace(microsecond=0)
    close = (base + dt.timedelta(days=5)).date()
    deal = _deal(platform, token, name="Timed", expected_close_date=close.isoformat())
    wf = _manual(platform, token, "deal", [
        {"id": "h", "type": "delay", "hours": 2},
        {"id": "d", "type": "delay", "days": 1},
        {"id": "u", "type": "delay", "until": until.isoformat()},
        {"id": "f", "type": "delay", "until_field": "expected_close_date", "offset_minutes": 540},
        {"id": "b", "type": "delay", "minutes": 90, "business_hours": calendar["id"]},
        {"id": "bd", "type": "delay", "minutes": 30, "business_hours": True},
        {"id": "t", "type": "create_task", "title": "Timed out: {{ record.name }}"},
    ])
    [run_id] = _start(platform, token, wf, [deal["id"]])

    h = _waiting_at(platform, token, run_id, "h")
    assert _iso(h["output"]["until"]) == _iso(h["started_at"]) + dt.timedelta(hours=2), h
    clock.advance(hours=1)
    time.sleep(0.5)
    assert get_run(platform, token, run_id)["status"] == "waiting"  # an hour early: still asleep
    clock.advance_to(h["output"]["until"])
    d = _waiting_at(platform, token, run_id, "d")
    assert _iso(d["output"]["until"]) == _iso(d["started_at"]) + dt.timedelta(days=1), d
    clock.advance_to(d["output"]["until"])
    u = _waiting_at(platform, token, run_id, "u")
    assert _iso(u["output"]["until"]) == until
    clock.advance_to(until)
    f = _waiting_at(platform, token, run_id, "f")
    expected_f = dt.datetime.combine(close, dt.time(9, 0), dt.UTC)  # the date's midnight UTC plus 540 minutes
    assert _iso(f["output"]["until"]) == expected_f
    clock.advance_to(expected_f)
    b = _waiting_at(platform, token, run_id, "b")
    woke = _iso(b["output"]["until"])
    # 09:00 UTC is before New York opens: 60 minutes that morning, 30 the next.
    assert woke == dt.datetime.combine(close + dt.timedelta(days=1), dt.time(9, 30), zone), (woke, b)
    local = woke.astimezone(zone)
    assert dt.time(9, 0) <= local.time() <= dt.time(10, 0)
    clock.advance_to(woke)
    bd = _waiting_at(platform, token, run_id, "bd")
    # 09:30 in New York is past 13:00 UTC (EST or EDT): the default calendar's next hour is tomorrow's.
    default_woke = dt.datetime.combine(close + dt.timedelta(days=2), dt.time(12, 30), dt.UTC)
    assert _iso(bd["output"]["until"]) == default_woke, bd
    clock.advance_to(default_woke)
    done = wait_run(platform, token, run_id, "completed")
    assert [s["step_id"] for s in done["steps"]] == ["h", "d", "u", "f", "b", "bd", "t"]
    assert all(s["status"] == "succeeded" and s["attempts"] == 1 for s in done["steps"])
    assert [t["title"] for t in _get(platform, token, f"/v1/tasks?deal_id={deal['id']}")["data"]] == ["Timed out: Timed"]


# -- actions --------------------------------------------------------------------------------------

def test_assign_owner_in_turn_and_to_the_least_loaded(rig: Rig) -> None:
    platform = rig.platform
    token = platform.signup("Assign Co")["access_token"]
    users = [_user(platform, token, n)["id"] for n in ("Una", "Vic", "Wes")]
    turn = _manual(platform, token, "contact", [{"id": "give", "type": "assign_owner", "users": users, "method": "round_robin"}])
    contacts = [_contact(platform, token, first_name=f"C{i}")["id"] for i in range(6)]
    run_ids = _start(platform, token, turn, contacts)
    owners = []
    for run_id in run_ids:
        done = wait_run(platform, token, run_id, "completed")
        owner = _get(platform, token, f"/v1/contacts/{done['record_id']}")["owner_id"]
        assert step_of(done, "give")["output"]["owner_id"] == owner
        owners.append(owner)
    assert collections.Counter(owners) == {u: 2 for u in users}  # in turn: each twice in six

    una, vic, wes = users
    for owner, status in ((una, None), (vic, "won"), (vic, "won"), (wes, None)):
        deal = _deal(platform, token, name=f"Held by {owner[:4]}", owner_id=owner)
        if status:
            _patch(platform, token, f"/v1/deals/{deal['id']}", {"status": status})
    least = _manual(platform, token, "deal", [{"id": "give", "type": "assign_owner", "users": users, "method": "least_loaded"}])
    new = _deal(platform, token, name="New one")
    [run_id] = _start(platform, token, least, [new["id"]])
    wait_run(platform, token, run_id, "completed")
    assert _get(platform, token, f"/v1/deals/{new['id']}")["owner_id"] == vic  # won deals are not open
    newer = _deal(platform, token, name="Newer one")
    [run_id] = _start(platform, token, least, [newer["id"]])
    wait_run(platform, token, run_id, "completed")
    assert _get(platform, token, f"/v1/deals/{newer['id']}")["owner_id"] == una  # one open each now: the first listed


def test_tags_a_new_deal_and_notifications(rig: Rig) -> None:
    platform = rig.platform
    account = platform.signup("Tag Co")
    token, owner_id = account["access_token"], account["user"]["id"]
    member = _user(platform, token, "Mia")
    ada = _contact(platform, token, first_name="Ada", tags=["old", "VIP"], owner_id=owner_id)
    wf = _manual(platform, token, "contact", [
        {"id": "add", "type": "add_tags", "tags": ["new", "{{ record.first_name | lower }}", "old"]},
        {"id": "remove", "type": "remove_tags", "tags": ["vip"]},
        {"id": "deal", "type": "create_deal", "title": "Deal for {{ record.first_name }}", "amount": "1500",
         "currency": "EUR", "owner": "owner"},
        {"id": "tell", "type": "notify", "users": [member["id"], "owner"], "message": "{{ record.first_name }} has a new deal"},
    ])
    [run_id] = _start(platform, token, wf, [ada["id"]])
    done = wait_run(platform, token, run_id, "completed")
    assert _get(platform, token, f"/v1/contacts/{ada['id']}")["tags"] == ["old", "new", "ada"]  # "VIP" went, any case
    deal = _get(platform, token, f"/v1/deals/{step_of(done, 'deal')['output']['deal_id']}")
    assert (deal["name"], deal["contact_id"], deal["owner_id"], deal["amount"]) == (
        "Deal for Ada", ada["id"], owner_id, {"amount": "1500.00", "currency": "EUR"})
    assert deal["pipeline_id"] == next(p["id"] for p in _get(platform, token, "/v1/pipelines")["data"] if p["is_default"])
    for who in (member["access_token"], token):
        found = wait_for_json(platform, "/v1/notifications", who,
                              lambda body: any(n["kind"] == "workflow" for n in body["data"]), timeout=60)["data"]
        [note] = [n for n in found if n["kind"] == "workflow"]
        assert (note["title"], note["subject_type"], note["subject_id"]) == ("Ada has a new deal", "contact", ada["id"])
        assert note["data"]["run_id"] == run_id


class _LostOnce:
    """send_email whose first attempt does its work and then loses the result (as a worker dying
    before it records the step), and whose second asks the mail service twice: one email must
    come of it all."""

    def __init__(self, inner: Action) -> None:
        self.inner, self.type, self.schema, self.record_types = inner, inner.type, inner.schema, inner.record_types
        self.keys: list[str] = []

    def writes(self, params: Mapping[str, Any], record_type: str | None) -> Writes:
        return self.inner.writes(params, record_type)

    def preview(self, ctx: StepContext, params: Mapping[str, Any]) -> dict[str, Any]:
        return self.inner.preview(ctx, params)

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> dict[str, Any]:
        out = self.inner.run(ctx, params)
        self.keys.append(ctx.idempotency_key)
        if len(self.keys) == 1:
            raise StepError("injected: the step's result was lost", retryable=True)
        self.inner.run(ctx, params)  # the same request again, in the same step run
        return out


def test_send_email_renders_the_template_and_sends_once_though_retried(rig: Rig, sink: SmtpSink,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    platform = rig.platform
    token = platform.signup("Mail Co")["access_token"]
    address = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    ada = _contact(platform, token, first_name="Ada", last_name="<Lovelace>", email=address)
    wf = _manual(platform, token, "contact", [
        {"id": "mail", "type": "send_email", "to": "record", "subject": "Hello {{ record.first_name }}",
         "body": "Dear {{ record.first_name }},\nwelcome aboard.", "html": "<p>Dear {{ record.last_name }}</p>",
         "purpose": "transactional"}])
    flaky = _LostOnce(rig.actions["send_email"])
    monkeypatch.setitem(rig.actions, "send_email", flaky)
    retrying = _metric(platform, "crm_workflow_steps_total", type="send_email", outcome="retrying")
    [run_id] = _start(platform, token, wf, [ada["id"]])
    done = wait_run(platform, token, run_id, "completed")
    assert step_of(done, "mail")["attempts"] == 2 and flaky.keys == [f"wf:{run_id}:mail"] * 2
    assert _metric(platform, "crm_workflow_steps_total", type="send_email", outcome="retrying") == retrying + 1

    listed = wait_for_json(platform, f"/v1/mail/messages?refers_to_type=contact&refers_to_id={ada['id']}", token,
                           lambda body: body["data"] and body["data"][0]["status"] == "sent", timeout=60)["data"]
    assert len(listed) == 1
    [received] = [r for r in sink.messages if address in r.rcpt_tos]
    msg = email.message_from_bytes(received.data, policy=default)
    assert str(msg["Subject"]) == "Hello Ada"
    text = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert text.replace("\r\n", "\n").startswith("Dear Ada,\nwelcome aboard.")
    assert "<p>Dear &lt;Lovelace&gt;</p>" in msg.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert str(msg["Message-ID"]) == listed[0]["message_id_header"]
    time.sleep(1)
    assert len([r for r in sink.messages if address in r.rcpt_tos]) == 1


class _Receiver(BaseHTTPRequestHandler):
    answers: list[int]
    got: list[tuple[str, str, dict[str, str], bytes]]

    def _any(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.got.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        status = self.answers.pop(0) if self.answers else 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"ok": true}')

    do_POST = do_PUT = _any

    def log_message(self, *args: Any) -> None:
        pass


def test_call_webhook_signs_retries_with_the_same_id_and_renders_the_body(rig: Rig) -> None:
    platform = rig.platform
    token = platform.signup("Hook Out Co")["access_token"]
    handler = type("Receiver", (_Receiver,), {"answers": [503], "got": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        secret = signing.generate_secret()
        ada = _contact(platform, token, first_name="Ada")
        wf = _manual(platform, token, "contact", [
            {"id": "hook", "type": "call_webhook", "url": f"http://127.0.0.1:{server.server_port}/people/{{{{ record.id }}}}",
             "method": "PUT", "body": {"name": "{{ record.first_name }}", "run": "{{ run.id }}"}, "secret": secret}])
        [run_id] = _start(platform, token, wf, [ada["id"]])
        done = wait_run(platform, token, run_id, "completed")
    finally:
        server.shutdown()
        server.server_close()
    assert step_of(done, "hook")["attempts"] == 2 and step_of(done, "hook")["output"]["status"] == 200
    assert [(m, p) for m, p, _h, _b in handler.got] == [("PUT", f"/people/{ada['id']}")] * 2
    ids = {h["webhook-id"] for _m, _p, h, _b in handler.got}
    assert ids == {f"wf:{run_id}:hook"}  # a retry is the same call, as the receiver can tell
    for _m, _p, headers, body in handler.got:
        assert json.loads(body) == {"name": "Ada", "run": run_id}
        expected = signing.sign(secret, headers["webhook-id"], int(headers["webhook-timestamp"]), body)
        assert headers["webhook-signature"] == expected


def test_enrol_starts_another_workflow_and_stop_workflow_cancels_its_waiting_run(rig: Rig) -> None:
    platform = rig.platform
    token = platform.signup("Enrol Co")["access_token"]
    nurture = _manual(platform, token, "contact", [
        {"id": "pause", "type": "delay", "days": 7},
        {"id": "follow", "type": "create_task", "title": "Follow up {{ record.first_name }}"}], name="Nurture")
    enrol = _manual(platform, token, "contact", [{"id": "in", "type": "enrol", "workflow_id": nurture["id"]}], name="Enrol")
    stop = _manual(platform, token, "contact", [{"id": "out", "type": "stop_workflow", "workflow_id": nurture["id"]}],
                   name="Stop")
    ada, bob = (_contact(platform, token, first_name=n)["id"] for n in ("Ada", "Bob"))
    enrolments = _start(platform, token, enrol, [ada, bob])
    for run_id in enrolments:
        wait_run(platform, token, run_id, "completed")
    nurtured = {r["record_id"]: r for r in wait_runs(platform, token, nurture["id"], "waiting", count=2)}
    assert set(nurtured) == {ada, bob}
    trigger = nurtured[ada]["trigger"]
    assert (trigger["type"], trigger["workflow_id"], trigger["run_id"]) == ("enrol", enrol["id"], enrolments[0])
    assert nurtured[ada]["causation"] == [enrolments[0], nurtured[ada]["id"]]  # started by that run
    [stopper] = _start(platform, token, stop, [ada])
    wait_run(platform, token, stopper, "completed")
    cancelled = wait_run(platform, token, nurtured[ada]["id"], "cancelled")
    assert stopper in (cancelled["error"] or "")
    assert get_run(platform, token, nurtured[bob]["id"])["status"] == "waiting"  # Bob's run is not touched
    # A week later Bob's run goes on; Ada's delay, cancelled with its run, wakes nothing.
    rig.clock.advance(days=7, minutes=1)
    wait_run(platform, token, nurtured[bob]["id"], "completed")
    assert [t["title"] for t in _get(platform, token, f"/v1/tasks?contact_id={bob}")["data"]] == ["Follow up Bob"]
    assert _get(platform, token, f"/v1/tasks?contact_id={ada}")["data"] == []
    assert get_run(platform, token, nurtured[ada]["id"])["status"] == "cancelled"
    assert len(list_runs(platform, token, nurture["id"])) == 2


# -- loop protection at runtime -------------------------------------------------------------------

def test_a_loop_through_lead_scoring_is_stopped_by_its_causation_chain(rig: Rig) -> None:
    """A scoring rule gives tagged contacts points; the workflow takes the tag off a contact with
    points and puts it on one without. Its trigger (lead_score changed) and its writes (tags) do
    not meet, so the save is allowed; at runtime each write changes the score, which starts the
    next run: the sixth in the chain is stopped."""
    platform = rig.platform
    token = platform.signup("Loop Co")["access_token"]
    _post(platform, token, "/v1/scoring-rules", {"name": "Hot", "filter": "tags contains 'hot'", "points": 10})
    wf = _post(platform, token, "/v1/workflows", {
        "name": "Toggle", "trigger": {"type": "event", "event": "crm.contact.updated", "changed": ["lead_score"]},
        "steps": [{"id": "check", "type": "condition", "condition": "lead_score > 0", "then": "cool", "else": "heat"},
                  {"id": "cool", "type": "remove_tags", "tags": ["hot"], "next": "end"},
                  {"id": "heat", "type": "add_tags", "tags": ["hot"]}]})
    rejected = _metric(platform, "crm_workflow_limit_rejections_total", limit="chain")
    ada = _contact(platform, token, first_name="Ada", tags=["hot"])
    [stopped] = wait_runs(platform, token, wf["id"], "failed")
    assert stopped["error"].startswith("Loop stopped:"), stopped
    completed = wait_runs(platform, token, wf["id"], "completed", count=5)
    time.sleep(2)
    every = list_runs(platform, token, wf["id"])
    assert len(every) == 6 and len(completed) == 5, [(r["status"], r.get("error")) for r in every]
    assert all(r["record_id"] == ada["id"] for r in every)
    # The chain is the five runs that led here, each started by the one before, then this one;
    # the error names it.
    by_id = {r["id"]: r for r in every}
    chain = stopped["causation"]
    assert len(chain) == 6 and chain[-1] == stopped["id"] and set(chain) == set(by_id)
    assert all(by_id[run_id]["causation"] == chain[:i + 1] for i, run_id in enumerate(chain))
    assert all(run_id in stopped["error"] for run_id in chain)
    assert get_run(platform, token, stopped["id"])["steps"] == []  # it did nothing
    assert _metric(platform, "crm_workflow_limit_rejections_total", limit="chain") == rejected + 1
    contact = _get(platform, token, f"/v1/contacts/{ada['id']}")
    assert (contact["tags"], contact["lead_score"]) == ([], 0)  # five runs: off, on, off, on, off


# -- limits ---------------------------------------------------------------------------------------

def test_per_tenant_limits_on_enabled_workflows_and_run_starts(limited: Rig) -> None:
    platform = limited.platform
    token = platform.signup("Limit Co")["access_token"]
    other = platform.signup("Other Co")["access_token"]
    before = {name: _metric(platform, "crm_workflow_limit_rejections_total", limit=name)
              for name in ("active_workflows", "runs_per_minute")}
    rejected_runs = _metric(platform, "crm_workflow_runs_total", outcome="rejected")

    def workflow(name: str, enabled: bool, status: int = 201, who: str = token) -> Any:
        return _post(platform, who, "/v1/workflows", {
            "name": name, "enabled": enabled, "trigger": {"type": "event", "event": "crm.contact.created"},
            "steps": [{"id": "tag", "type": "add_tags", "tags": ["seen"]}]}, status)

    workflow("One", True)
    workflow("Two", True)
    refused = workflow("Three", True, 422)
    assert list(refused["errors"]) == ["enabled"], refused
    third = workflow("Three", False)
    assert list(_ok_patch(platform, token, third["id"], {"enabled": True}, 422)["errors"]) == ["enabled"]
    workflow("Theirs", True, who=other)  # another tenant's count is its own
    assert _metric(platform, "crm_workflow_limit_rejections_total", limit="active_workflows") == before["active_workflows"] + 2

    # Two enabled workflows on crm.contact.created: two contacts start four runs, over the three a minute.
    for name in ("P", "Q"):
        _contact(platform, token, first_name=name)
    all_runs: list[dict[str, Any]] = []

    def settled() -> bool:
        all_runs[:] = [r for w in _get(platform, token, "/v1/workflows")["data"] for r in list_runs(platform, token, w["id"])]
        return len(all_runs) == 4 and all(r["status"] in ("completed", "failed") for r in all_runs)

    wait_for(settled, timeout=60, what="four runs settled")
    statuses = collections.Counter(r["status"] for r in all_runs)
    assert statuses == {"completed": 3, "failed": 1}, all_runs
    [over] = [r for r in all_runs if r["status"] == "failed"]
    assert over["error"].startswith("Run limit reached"), over
    assert get_run(platform, token, over["id"])["steps"] == []
    assert _metric(platform, "crm_workflow_limit_rejections_total", limit="runs_per_minute") == before["runs_per_minute"] + 1
    assert _metric(platform, "crm_workflow_runs_total", outcome="rejected") == rejected_runs + 1


def _ok_patch(platform: Platform, token: str, workflow_id: str, body: Any, status: int = 200) -> Any:
    return ok(platform.request("PATCH", f"/v1/workflows/{workflow_id}", body, token=token), status)


# -- sources --------------------------------------------------------------------------------------

def test_an_import_starts_no_workflow_that_excludes_imports(rig: Rig) -> None:
    platform = rig.platform
    token = platform.signup("Import Co")["access_token"]
    welcome = _post(platform, token, "/v1/workflows", {
        "name": "Welcome", "trigger": {"type": "event", "event": "crm.contact.created", "exclude_sources": ["import"]},
        "steps": [{"id": "tag", "type": "add_tags", "tags": ["welcomed"]}]})
    # Starts on every new contact: once it has a run per contact, the trigger consumer has seen them all.
    everyone = _post(platform, token, "/v1/workflows", {
        "name": "Everyone", "trigger": {"type": "event", "event": "crm.contact.created"},
        "steps": [{"id": "wait", "type": "delay", "minutes": 0}]})
    tag = uuid.uuid4().hex[:6]
    csv = "email,first_name\n" + "".join(f"imp{i}-{tag}@example.com,Imp{i}\n" for i in range(3))
    resp = platform.http.request("POST", platform.gateway_url + "/v1/imports", retries=False,
                                 fields={"object": "contacts", "file": ("people.csv", csv.encode(), "text/csv")},
                                 headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 202, resp.data
    job = resp.json()
    wait_for_json(platform, f"/v1/imports/{job['id']}", token, lambda body: body["status"] == "completed", timeout=60)
    typed = _contact(platform, token, first_name="Typed", email=f"typed-{tag}@example.com")
    seen = wait_runs(platform, token, everyone["id"], "completed", count=4)
    assert collections.Counter(r["trigger"]["origin"] for r in seen) == {"import": 3, "user": 1}
    [run] = wait_runs(platform, token, welcome["id"], "completed")
    assert run["record_id"] == typed["id"] and len(list_runs(platform, token, welcome["id"])) == 1
    imported = _get(platform, token, "/v1/contacts?" + urlencode({"filter": f"email contains '-{tag}@'", "limit": 10}))["data"]
    assert len(imported) == 4 and [c["tags"] for c in imported if c["id"] != typed["id"]] == [[], [], []]
