"""SLA on the embedded database: /v1/business-hours and /v1/sla-policies, a ticket's clocks
(policy matching, pauses, responses, resolution), recompute after a calendar or policy change,
warning and breach timers fired exactly once (also across a restart), holiday feeds, isolation.

Times are UTC in the code; the calendar is Europe/Berlin, Mon-Fri 09:00-12:00 + 13:00-17:00
(CET = UTC+1 until 2027-03-28). Every expected due time is worked out by hand in a comment.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sla_helpers import (
    SPLIT,
    Clock,
    berlin,
    check_isolation,
    desk_of,
    events,
    get,
    iso,
    message,
    patch,
    pending_timers,
    policy,
    post,
    target,
    z,
)
from sqlalchemy import select

from crm_core.context import tenant_context
from crm_testing.apps import ServiceHarness
from tickets.models.sla import TicketSla
from tickets.service import sla, sla_config


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock(z("2027-03-01 08:00"))  # Mon 09:00 CET
    monkeypatch.setattr(sla, "now", c)
    return c


def test_policy_applies_with_business_hours(tickets_service: ServiceHarness, clock: Clock) -> None:
    svc = tickets_service
    cal = berlin(svc)
    urgent = policy(svc, cal, name="Urgent VIP", condition="priority = 'urgent' and tags in ('vip')",
                    first_response_minutes=60, resolution_minutes=480, position=1)
    catch_all = policy(svc, cal, name="Everything else", first_response_minutes=240, position=2)
    # Mon 09:00 CET. first response 60 -> 10:00 CET = 09:00Z. Resolution 480: Mon 09-12 + 13-17 = 420,
    # Tue 09:00 + 60 -> Tue 10:00 CET = 09:00Z.
    vip = post(svc, "/v1/tickets", {"subject": "Down", "priority": "urgent", "tags": ["vip"]})
    assert vip["sla_policy_id"] == urgent["id"] and vip["sla_due_at"] == iso("2027-03-01 09:00")
    state = get(svc, f"/v1/tickets/{vip['id']}/sla")
    assert state["policy"]["name"] == "Urgent VIP" and state["calendar"]["time_zone"] == "Europe/Berlin"
    assert target(state, "first_response")["due_at"] == iso("2027-03-01 09:00")
    assert target(state, "resolution")["due_at"] == iso("2027-03-02 09:00")
    assert target(state, "first_response")["warning_at"] == iso("2027-03-01 08:48")  # 80% of 60 = 48 minutes
    why = target(state, "resolution")["why"]
    assert why["anchor"] == iso("2027-03-01 08:00") and why["minutes"] == 480 and why["calendar"]["name"] == "Berlin office"
    assert "480 business minutes" in why["text"]
    # The catch-all: 240 from Mon 09:00 CET -> 09-12 (180) + 13:00-14:00 -> 14:00 CET = 13:00Z
    plain = post(svc, "/v1/tickets", {"subject": "Question"})
    assert plain["sla_policy_id"] == catch_all["id"] and plain["sla_due_at"] == iso("2027-03-01 13:00")
    # Changing priority/tags re-evaluates: the VIP ticket loses its tag -> the catch-all (same anchor)
    changed = patch(svc, f"/v1/tickets/{vip['id']}", {"tags": []})
    assert changed["sla_policy_id"] == catch_all["id"] and changed["sla_due_at"] == iso("2027-03-01 13:00")
    assert changed["version"] == 2  # the SLA columns do not bump the version
    assert pending_timers(svc, vip["id"]) == [("sla_breach", z("2027-03-01 13:00")), ("sla_warning", z("2027-03-01 12:12"))]
    # 80% of 240 = 192 minutes: 09-12 (180) + 12 -> 13:12 CET = 12:12Z


def test_pending_pauses_and_segments_explain(tickets_service: ServiceHarness, clock: Clock) -> None:
    svc = tickets_service
    policy(svc, berlin(svc), first_response_minutes=60)
    ticket = post(svc, "/v1/tickets", {"subject": "Help"})  # Mon 09:00 CET
    clock.set("2027-03-01 08:30")  # 09:30 CET: 30 minutes used
    paused = patch(svc, f"/v1/tickets/{ticket['id']}", {"status": "pending"})
    assert paused["sla_due_at"] is None
    first = target(get(svc, f"/v1/tickets/{ticket['id']}/sla"), "first_response")
    assert first["paused"] and first["paused_by"] == "pending" and first["due_at"] is None
    assert first["why"]["remaining_minutes"] == 30
    assert pending_timers(svc, ticket["id"]) == []
    clock.set("2027-03-01 12:30")  # 13:30 CET, after lunch: 30 left -> 14:00 CET = 13:00Z
    resumed = patch(svc, f"/v1/tickets/{ticket['id']}", {"status": "open"})
    assert resumed["sla_due_at"] == iso("2027-03-01 13:00")
    clock.set("2027-03-01 12:45")
    state = get(svc, f"/v1/tickets/{ticket['id']}/sla")
    first = target(state, "first_response")
    assert not first["paused"] and first["due_at"] == iso("2027-03-01 13:00")
    assert first["why"]["paused_minutes"] == 240 and first["why"]["elapsed_minutes"] == 45
    assert [(s["start"], s["end"], s["state"], s["status"]) for s in state["segments"]] == [
        (iso("2027-03-01 08:00"), iso("2027-03-01 08:30"), "running", "new"),
        (iso("2027-03-01 08:30"), iso("2027-03-01 12:30"), "paused", "pending"),
        (iso("2027-03-01 12:30"), iso("2027-03-01 12:45"), "running", "open"),
    ]
    # on_hold pauses too; a paused clock over the evening shows outside_hours only while running
    clock.set("2027-03-01 15:30")  # 16:30 CET
    patch(svc, f"/v1/tickets/{ticket['id']}", {"status": "on_hold"})
    clock.set("2027-03-01 17:00")
    state = get(svc, f"/v1/tickets/{ticket['id']}/sla")
    assert target(state, "first_response")["paused_by"] == "on_hold"
    assert state["segments"][-2:] == [
        {"start": iso("2027-03-01 12:30"), "end": iso("2027-03-01 15:30"), "state": "running", "status": "open"},
        {"start": iso("2027-03-01 15:30"), "end": iso("2027-03-01 17:00"), "state": "paused", "status": "on_hold"},
    ]


def test_only_public_agent_replies_count(tickets_service: ServiceHarness, clock: Clock) -> None:
    svc = tickets_service
    policy(svc, berlin(svc), first_response_minutes=60, next_response_minutes=30)
    ticket = post(svc, "/v1/tickets", {"subject": "Help"})
    clock.set("2027-03-01 08:10")
    message(svc, ticket, "note", "agent")  # internal: not an answer
    message(svc, ticket, "customer", "customer")  # before any answer: first response covers it
    state = get(svc, f"/v1/tickets/{ticket['id']}/sla")
    assert target(state, "first_response")["met_at"] is None and "next_response" not in {t["target"] for t in state["targets"]}
    clock.set("2027-03-01 08:20")
    message(svc, ticket, "reply", "agent")
    state = get(svc, f"/v1/tickets/{ticket['id']}/sla")
    assert target(state, "first_response")["met_at"] == iso("2027-03-01 08:20")
    assert not target(state, "first_response")["breached"] and state["sla_due_at"] is None
    # The customer writes at 10:00 CET: next response due 30 business minutes later, 10:30 CET = 09:30Z
    clock.set("2027-03-01 09:00")
    message(svc, ticket, "customer", "customer")
    clock.set("2027-03-01 09:10")
    message(svc, ticket, "customer", "customer")  # still unanswered: the clock does not restart
    nxt = target(get(svc, f"/v1/tickets/{ticket['id']}/sla"), "next_response")
    assert (nxt["cycle"], nxt["started_at"], nxt["due_at"]) == (1, iso("2027-03-01 09:00"), iso("2027-03-01 09:30"))
    assert get(svc, f"/v1/tickets/{ticket['id']}")["sla_due_at"] == iso("2027-03-01 09:30")
    clock.set("2027-03-01 09:40")  # answered 10 minutes late
    message(svc, ticket, "reply", "agent")
    clock.set("2027-03-01 10:00")
    message(svc, ticket, "customer", "customer")  # round 2 from 11:00 CET -> 11:30 CET = 10:30Z
    state = get(svc, f"/v1/tickets/{ticket['id']}/sla")
    assert target(state, "next_response")["cycle"] == 2 and target(state, "next_response")["due_at"] == iso("2027-03-01 10:30")
    (round1,) = state["history"]
    assert round1["met_at"] == iso("2027-03-01 09:40") and round1["breached"] and round1["breached_at"] == iso("2027-03-01 09:30")
    assert get(svc, f"/v1/tickets/{ticket['id']}")["sla_breached"] is True


def test_resolution_met_and_reopen_resumes(tickets_service: ServiceHarness, clock: Clock) -> None:
    svc = tickets_service
    policy(svc, berlin(svc), resolution_minutes=120)
    ticket = post(svc, "/v1/tickets", {"subject": "Help"})  # due 11:00 CET = 10:00Z
    clock.set("2027-03-01 08:30")
    patch(svc, f"/v1/tickets/{ticket['id']}", {"status": "resolved"})
    res = target(get(svc, f"/v1/tickets/{ticket['id']}/sla"), "resolution")
    assert res["met_at"] == iso("2027-03-01 08:30") and not res["breached"]
    clock.set("2027-03-01 09:30")  # reopened at 10:30 CET: 90 left -> 12:00 CET = 11:00Z
    reopened = patch(svc, f"/v1/tickets/{ticket['id']}", {"status": "open"})
    assert reopened["sla_due_at"] == iso("2027-03-01 11:00")
    state = get(svc, f"/v1/tickets/{ticket['id']}/sla")
    assert target(state, "resolution")["met_at"] is None
    assert {"start": iso("2027-03-01 08:30"), "end": iso("2027-03-01 09:30"), "state": "stopped", "status": "resolved"} in state["segments"]


def test_calendar_and_policy_changes_recompute_open_tickets(tickets_service: ServiceHarness, clock: Clock) -> None:
    svc = tickets_service
    cal = berlin(svc)
    pol = policy(svc, cal, first_response_minutes=120, condition="priority != 'low'")
    clock.set("2027-03-05 15:00")  # Fri 16:00 CET: 60 on Friday, Mon 09:00 + 60 -> Mon 10:00 CET = 09:00Z
    ticket = post(svc, "/v1/tickets", {"subject": "Weekend"})
    closed = post(svc, "/v1/tickets", {"subject": "Done", "status": "closed"})
    assert ticket["sla_due_at"] == iso("2027-03-08 09:00")
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        anchors_before = session.scalars(select(TicketSla.anchors).where(TicketSla.ticket_id == uuid.UUID(ticket["id"]))).one()
    clock.set("2027-03-05 15:30")
    # Saturdays open 09:00-17:00: 60 on Friday, Sat 09:00 + 60 -> Sat 10:00 CET = 09:00Z
    patch(svc, f"/v1/business-hours/{cal['id']}", {"frames": {**SPLIT, "sat": [{"start": "09:00", "end": "17:00"}]}})
    assert get(svc, f"/v1/tickets/{ticket['id']}")["sla_due_at"] == iso("2027-03-06 09:00")
    assert ("sla_breach", z("2027-03-06 09:00")) in pending_timers(svc, ticket["id"])
    # A holiday on that Saturday: back to Monday
    patch(svc, f"/v1/business-hours/{cal['id']}", {"holidays": [{"date": "2027-03-06", "name": "Staff day"}]})
    assert get(svc, f"/v1/tickets/{ticket['id']}")["sla_due_at"] == iso("2027-03-08 09:00")
    # The policy's target: 30 minutes from Fri 16:00 CET -> 16:30 CET = 15:30Z (the anchor did not move)
    patch(svc, f"/v1/sla-policies/{pol['id']}", {"first_response_minutes": 30})
    assert get(svc, f"/v1/tickets/{ticket['id']}")["sla_due_at"] == iso("2027-03-05 15:30")
    # The condition: the ticket no longer matches, nothing applies
    patch(svc, f"/v1/sla-policies/{pol['id']}", {"condition": "priority = 'low'"})
    gone = get(svc, f"/v1/tickets/{ticket['id']}")
    assert gone["sla_policy_id"] is None and gone["sla_due_at"] is None and pending_timers(svc, ticket["id"]) == []
    patch(svc, f"/v1/sla-policies/{pol['id']}", {"condition": None})
    assert get(svc, f"/v1/tickets/{ticket['id']}")["sla_due_at"] == iso("2027-03-05 15:30")
    # Closed tickets are left alone: the policy they had when closed, never recomputed
    assert get(svc, f"/v1/tickets/{closed['id']}")["sla_policy_id"] == pol["id"]
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        assert session.scalars(select(TicketSla.anchors).where(TicketSla.ticket_id == uuid.UUID(ticket["id"]))).one() == anchors_before
    # Deleting the policy: its tickets fall back to no policy
    assert svc.client.delete(f"/v1/business-hours/{cal['id']}", headers=svc.headers("a")).status_code == 409
    assert svc.client.delete(f"/v1/sla-policies/{pol['id']}", headers=svc.headers("a")).status_code == 204
    assert get(svc, f"/v1/tickets/{ticket['id']}")["sla_policy_id"] is None


def test_default_calendar_is_used_without_one(tickets_service: ServiceHarness, clock: Clock) -> None:
    svc = tickets_service
    pol = policy(svc, None, first_response_minutes=60)
    clock.set("2027-03-06 11:00")  # Saturday; around the clock without a default calendar
    ticket = post(svc, "/v1/tickets", {"subject": "Sat"})
    assert ticket["sla_due_at"] == iso("2027-03-06 12:00")
    berlin(svc, is_default=True)  # -> Mon 10:00 CET = 09:00Z
    assert get(svc, f"/v1/tickets/{ticket['id']}")["sla_due_at"] == iso("2027-03-08 09:00")
    other = berlin(svc, is_default=True, frames={"sat": [{"start": "09:00", "end": "17:00"}]})
    # the new default (Saturdays): Sat 12:00 CET + 60 -> 13:00 CET = 12:00Z
    assert get(svc, f"/v1/tickets/{ticket['id']}")["sla_due_at"] == iso("2027-03-06 12:00")
    listed = get(svc, "/v1/business-hours")["data"]
    assert [c["is_default"] for c in listed if c["id"] == other["id"]] == [True] and sum(c["is_default"] for c in listed) == 1
    assert pol["business_hours_id"] is None


def test_validation_names_the_field(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    cases = [
        ("/v1/business-hours", {"name": "x", "time_zone": "Mars/Base", "frames": SPLIT}, "time_zone"),
        ("/v1/business-hours", {"name": "x", "time_zone": "UTC", "frames": {"mon": [{"start": "17:00", "end": "09:00"}]}}, "frames"),
        ("/v1/business-hours", {"name": "x", "time_zone": "UTC", "frames": {"caturday": []}}, "frames"),
        ("/v1/business-hours", {"name": "x", "time_zone": "UTC", "frames": SPLIT, "holidays": [{"date": "nope"}]}, "holidays"),
        ("/v1/business-hours", {"name": "x", "time_zone": "UTC", "frames": SPLIT, "holiday_feed_url": "ftp://x/y"}, "holiday_feed_url"),
        ("/v1/sla-policies", {"name": "x", "condition": "bogus = 1", "first_response_minutes": 5}, "condition"),
        ("/v1/sla-policies", {"name": "x", "condition": "priority = ", "first_response_minutes": 5}, "condition"),
        ("/v1/sla-policies", {"name": "x", "business_hours_id": str(uuid.uuid4()), "first_response_minutes": 5}, "business_hours_id"),
        ("/v1/sla-policies", {"name": "x"}, "first_response_minutes"),
        ("/v1/sla-policies", {"name": "x", "resolution_minutes": 0}, "resolution_minutes"),
        ("/v1/sla-policies", {"name": "x", "resolution_minutes": 5, "warning_threshold": 100}, "warning_threshold"),
    ]
    for path, body, field in cases:
        resp = svc.client.post(path, json=body, headers=svc.headers("a"))
        assert resp.status_code == 422, (body, resp.get_json())
        assert any(k.split(".")[0] == field for k in resp.get_json()["errors"]), (body, resp.get_json())
    pol = policy(svc, None, first_response_minutes=5)
    resp = svc.client.patch(f"/v1/sla-policies/{pol['id']}", json={"first_response_minutes": None}, headers=svc.headers("a"))
    assert resp.status_code == 422 and "first_response_minutes" in resp.get_json()["errors"]
    # Agents read, only admins write
    agent = svc.headers("a", roles=("agent",), scopes=("tickets:read", "tickets:write"))
    assert svc.client.get("/v1/sla-policies", headers=agent).status_code == 200
    assert svc.client.post("/v1/sla-policies", json={"name": "y", "first_response_minutes": 5}, headers=agent).status_code == 403


class Hooked:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, _session: Any, ticket: Any, target_name: str) -> None:
        self.calls.append((str(ticket.id), target_name))


def test_timers_fire_once_across_restarts(tickets_service: ServiceHarness, clock: Clock) -> None:
    svc = tickets_service
    policy(svc, berlin(svc), first_response_minutes=60)
    assignee = uuid.uuid4()
    ticket = post(svc, "/v1/tickets", {"subject": "Urgent", "assignee_id": str(assignee)})  # due 09:00Z, warning 08:48Z
    desk = desk_of(svc)
    warned = Hooked()
    desk.hooks.sla_warning.append(warned)
    runtime = svc.app.extensions["crm_runtime"]
    scheduler, _feeds = sla_config.schedulers(runtime.settings, svc.db, desk, clock)
    assert len(sla_config.background(runtime.settings, svc.db)) == 3  # what the worker runs: SLA timers, holiday feeds, recomputes
    breaches_before = REGISTRY.get_sample_value("crm_tickets_breached_total") or 0.0
    clock.set("2027-03-01 08:47")
    assert scheduler.drain() == 0
    clock.set("2027-03-01 08:48")
    assert scheduler.drain() == 1
    (warning,) = events(svc, "crm.ticket.sla_warning")
    assert (warning["ticket_id"], warning["target"], warning["due_at"]) == (ticket["id"], "first_response", iso("2027-03-01 09:00"))
    assert warned.calls == [(ticket["id"], "first_response")]
    # An edit replans the timers: the warning that fired is not planned again
    clock.set("2027-03-01 08:50")
    patch(svc, f"/v1/tickets/{ticket['id']}", {"priority": "high"})
    assert pending_timers(svc, ticket["id"]) == [("sla_breach", z("2027-03-01 09:00"))]
    clock.set("2027-03-01 09:00")
    restarted, _ = sla_config.schedulers(runtime.settings, svc.db, desk, clock)  # a new process
    assert restarted.drain() == 1
    (breach,) = events(svc, "crm.ticket.sla_breached")
    assert (breach["target"], breach["breached_at"], breach["assignee_id"]) == ("first_response", iso("2027-03-01 09:00"), str(assignee))
    (note,) = [e for e in events(svc, "crm.notification.requested") if e["kind"] == "sla_breach"]  # not ticket_assigned
    assert note["user_ids"] == [str(assignee)] and note["kind"] == "sla_breach" and note["subject_id"] == ticket["id"]
    assert (REGISTRY.get_sample_value("crm_tickets_breached_total") or 0.0) == breaches_before + 1
    after = get(svc, f"/v1/tickets/{ticket['id']}")
    assert after["sla_breached"] is True
    assert target(get(svc, f"/v1/tickets/{ticket['id']}/sla"), "first_response")["breached_at"] == iso("2027-03-01 09:00")
    # Another restart, a replan, and a stray timer for the same occurrence: nothing fires twice
    patch(svc, f"/v1/tickets/{ticket['id']}", {"priority": "urgent"})
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        sla.TIMERS.schedule(session, sla.BREACH, uuid.UUID(ticket["id"]), z("2027-03-01 09:00"), {"target": "first_response", "cycle": 0})
        sla.TIMERS.schedule(session, sla.WARNING, uuid.UUID(ticket["id"]), z("2027-03-01 08:48"), {"target": "first_response", "cycle": 0})
    clock.set("2027-03-01 12:00")
    third, _ = sla_config.schedulers(runtime.settings, svc.db, desk, clock)
    third.drain()
    assert len(events(svc, "crm.ticket.sla_breached")) == 1 and len(events(svc, "crm.ticket.sla_warning")) == 1
    assert warned.calls == [(ticket["id"], "first_response")]


def test_met_or_paused_targets_do_not_fire(tickets_service: ServiceHarness, clock: Clock) -> None:
    svc = tickets_service
    policy(svc, berlin(svc), first_response_minutes=60, resolution_minutes=120)
    answered = post(svc, "/v1/tickets", {"subject": "Answered"})
    waiting = post(svc, "/v1/tickets", {"subject": "Waiting"})
    clock.set("2027-03-01 08:30")
    message(svc, answered, "reply", "agent")
    patch(svc, f"/v1/tickets/{waiting['id']}", {"status": "pending"})
    runtime = svc.app.extensions["crm_runtime"]
    scheduler, _ = sla_config.schedulers(runtime.settings, svc.db, desk_of(svc), clock)
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:  # stale timers, as if a replan was lost
        for t in (answered, waiting):
            sla.TIMERS.schedule(session, sla.BREACH, uuid.UUID(t["id"]), z("2027-03-01 09:00"), {"target": "first_response", "cycle": 0})
    clock.set("2027-03-01 09:05")
    scheduler.drain()
    assert events(svc, "crm.ticket.sla_breached") == []
    clock.set("2027-03-01 10:00")  # 11:00 CET: the answered ticket's resolution (120 from 09:00 CET) breaches
    scheduler.drain()
    assert [(e["ticket_id"], e["target"]) for e in events(svc, "crm.ticket.sla_breached")] == [(answered["id"], "resolution")]


def test_holiday_feed_refresh(tickets_service: ServiceHarness, clock: Clock) -> None:
    svc = tickets_service
    feed = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:1\r\n"
            b"DTSTART;VALUE=DATE:20270308\r\nSUMMARY:Feed day\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    calls: list[tuple[str, float]] = []
    answer: dict[str, Any] = {"data": feed}

    def fake_fetch(url: str, *, timeout: float, allow_private: bool) -> bytes:
        calls.append((url, timeout))
        if isinstance(answer["data"], Exception):
            raise answer["data"]
        return answer["data"]

    cal = berlin(svc, holiday_feed_url="https://holidays.example/de.ics")
    policy(svc, cal, first_response_minutes=120)
    clock.set("2027-03-05 15:00")  # Fri 16:00 CET: Mon 10:00 CET = 09:00Z, Tue if Monday is a holiday
    ticket = post(svc, "/v1/tickets", {"subject": "Feed"})
    assert ticket["sla_due_at"] == iso("2027-03-08 09:00")
    runtime = svc.app.extensions["crm_runtime"]
    _, feeds = sla_config.schedulers(runtime.settings, svc.db, desk_of(svc), clock)
    refresher = feeds.handlers[sla.FEED]
    refresher.fetch = fake_fetch  # type: ignore[attr-defined]
    assert feeds.drain() == 1 and calls == [("https://holidays.example/de.ics", 10.0)]
    stored = get(svc, f"/v1/business-hours/{cal['id']}")
    assert stored["feed_holidays"] == [{"date": "2027-03-08", "name": "Feed day"}] and stored["feed_error"] is None
    assert get(svc, f"/v1/tickets/{ticket['id']}")["sla_due_at"] == iso("2027-03-09 09:00")
    # A failing refresh keeps the holidays it had and says why; the next one is planned a day later
    from crm_hours.feed import FeedError

    answer["data"] = FeedError("The feed answered HTTP 503.")
    clock.set("2027-03-06 15:00")
    assert feeds.drain() == 1
    stored = get(svc, f"/v1/business-hours/{cal['id']}")
    assert stored["feed_error"] == "The feed answered HTTP 503." and stored["feed_holidays"]
    assert get(svc, f"/v1/tickets/{ticket['id']}")["sla_due_at"] == iso("2027-03-09 09:00")
    assert pending_timers(svc, cal["id"]) == [("sla_holiday_feed", z("2027-03-07 15:00"))]


def test_isolation_between_tenants(tickets_service: ServiceHarness, clock: Clock) -> None:
    check_isolation(tickets_service, clock)
