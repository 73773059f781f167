"""Routing: rules, assignment modes, capacity, open counts, agents going away and coming back,
waiting tickets, notifications, SLA warning escalation. On the embedded database and on
PostgreSQL (the locking and ordering SQL differs per dialect)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from routing_helpers import (
    counts,
    get_team,
    get_ticket,
    members,
    notifications,
    outbox,
    patch_ticket,
    rule,
    team,
    ticket,
    user,
)
from sqlalchemy import select

import tickets
from crm_core.context import tenant_context
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, pg_harness
from tickets.app import create_app
from tickets.models import Ticket, metadata
from tickets.service.desk import build_desk

A, B, C = str(user("ann")), str(user("bob")), str(user("cat"))


@pytest.fixture(params=["sqlite", "postgresql"])
def tickets_service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServiceHarness]:
    if request.param == "sqlite":
        yield request.getfixturevalue("tickets_service")
    else:
        yield from pg_harness("tickets", create_app, metadata(), migrations_dir(tickets.__file__), tmp_path,
                              request.getfixturevalue("pg_admin_url"))


def assignees(svc: ServiceHarness, n: int, **body: object) -> list[str | None]:
    return [ticket(svc, subject=f"t{i}", **body)["assignee_id"] for i in range(n)]


def test_round_robin_cycles_through_available_members(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    t = team(svc, assignment_mode="round_robin", members=members("ann", "bob", "cat"))
    assert assignees(svc, 6, team_id=t["id"]) == [A, B, C, A, B, C]
    assert counts(svc, t) == {A: 2, B: 2, C: 2}
    # An unavailable member is skipped; the others keep taking turns.
    svc.client.patch(f"/v1/teams/{t['id']}/members/{B}", json={"available": False}, headers=svc.headers("a"))
    assert assignees(svc, 3, team_id=t["id"]) == [A, C, A]


def test_least_open_prefers_the_fewest_open_tickets(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    t = team(svc, assignment_mode="least_open", members=members("ann", "bob"))
    first = ticket(svc, team_id=t["id"])
    second = ticket(svc, team_id=t["id"])
    assert (first["assignee_id"], second["assignee_id"]) == (A, B)
    patch_ticket(svc, first, status="resolved")  # ann: 0 open, bob: 1
    # ann has fewer; then both have one and the tie goes to bob, who waited longer; then ann has fewer.
    assert assignees(svc, 3, team_id=t["id"]) == [A, B, A]
    assert counts(svc, t) == {A: 2, B: 2}


def test_capacity_is_never_exceeded_and_full_teams_queue(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    t = team(svc, assignment_mode="round_robin", members=members("ann", "bob", capacity=2))
    got = assignees(svc, 5, team_id=t["id"])
    assert got[:4] == [A, B, A, B] and got[4] is None  # the fifth waits with the team
    assert counts(svc, t) == {A: 2, B: 2}
    waiting = svc.client.get("/v1/tickets?assignee_id=&status=new", headers=svc.headers("a")).get_json()["data"]
    queued = next(w for w in waiting if w["assignee_id"] is None)
    assert queued["team_id"] == t["id"]


def test_a_closed_ticket_frees_a_slot_for_the_oldest_waiting_ticket(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    t = team(svc, assignment_mode="round_robin", members=members("ann", capacity=1))
    held, first_wait, second_wait = (ticket(svc, subject=s, team_id=t["id"]) for s in ("held", "w1", "w2"))
    assert held["assignee_id"] == A and first_wait["assignee_id"] is None and second_wait["assignee_id"] is None
    patch_ticket(svc, held, status="closed")
    assert get_ticket(svc, first_wait)["assignee_id"] == A  # the oldest one
    assert get_ticket(svc, second_wait)["assignee_id"] is None
    assert counts(svc, t) == {A: 1}
    # Reopening puts the closed ticket back on ann's count (even past capacity: it is hers).
    patch_ticket(svc, held, status="open")
    assert counts(svc, t) == {A: 2}


def test_manual_mode_only_routes_to_the_team(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    t = team(svc, members=members("ann"))
    assert t["assignment_mode"] == "manual"
    rec = ticket(svc, team_id=t["id"])
    assert rec["team_id"] == t["id"] and rec["assignee_id"] is None
    patch_ticket(svc, rec, assignee_id=A)
    assert counts(svc, t) == {A: 1}
    patch_ticket(svc, rec, assignee_id=None)
    assert counts(svc, t) == {A: 0}


def test_counts_follow_manual_changes(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    sales = team(svc, name="Sales", members=members("ann", "bob"))
    support = team(svc, name="Support", members=members("ann"))
    rec = ticket(svc, team_id=sales["id"], assignee_id=A)
    assert counts(svc, sales) == {A: 1, B: 0}
    patch_ticket(svc, rec, assignee_id=B)
    assert counts(svc, sales) == {A: 0, B: 1}
    patch_ticket(svc, rec, team_id=support["id"], assignee_id=A)
    assert counts(svc, sales) == {A: 0, B: 0} and counts(svc, support) == {A: 1}
    patch_ticket(svc, rec, status="pending")  # pending still counts as open work
    assert counts(svc, support) == {A: 1}
    patch_ticket(svc, rec, status="resolved")
    assert counts(svc, support) == {A: 0}


def test_moving_a_ticket_to_a_team_assigns_it_by_the_teams_mode(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    t = team(svc, assignment_mode="least_open", members=members("bob"))
    rec = ticket(svc)
    assert rec["team_id"] is None and rec["assignee_id"] is None
    moved = patch_ticket(svc, rec, team_id=t["id"])
    assert moved["assignee_id"] == B and counts(svc, t) == {B: 1}
    updates = [e for e in outbox(svc, "crm.ticket.updated") if e["subject"] == rec["id"]]
    assert [sorted(e["data"]["changes"]) for e in updates] == [["team_id"], ["assignee_id"]]


def test_first_matching_rule_sets_team_priority_and_tags(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    billing = team(svc, name="Billing", assignment_mode="round_robin", members=members("cat"))
    general = team(svc, name="General")
    rule(svc, name="catch-all", team_id=general["id"], position=20)
    rule(svc, name="billing", condition="subject contains 'invoice'", team_id=billing["id"],
         set_priority="high", add_tags=["billing", "money"], position=10)
    rule(svc, name="disabled", condition="subject contains 'invoice'", add_tags=["never"], position=0, enabled=False)
    rec = ticket(svc, subject="Wrong invoice", tags=["money", "vip"])
    assert rec["team_id"] == billing["id"] and rec["assignee_id"] == C
    assert rec["priority"] == "high" and rec["tags"] == ["money", "vip", "billing"]
    other = ticket(svc, subject="Password reset")
    assert other["team_id"] == general["id"] and other["assignee_id"] is None and other["priority"] == "normal"
    # The created event carries what routing set.
    created = next(e for e in outbox(svc, "crm.ticket.created") if e["subject"] == rec["id"])
    assert created["data"]["team_id"] == billing["id"] and created["data"]["assignee_id"] == C


def test_rules_skip_tickets_routed_by_hand(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    general, vip = team(svc, name="General"), team(svc, name="VIP")
    rule(svc, team_id=vip["id"], set_priority="urgent")
    assert ticket(svc, team_id=general["id"])["team_id"] == general["id"]
    by_hand = ticket(svc, assignee_id=A)
    assert by_hand["team_id"] is None and by_hand["priority"] == "normal"


def test_unavailable_agent_hands_open_tickets_on(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    t = team(svc, assignment_mode="round_robin", members=members("ann", "bob", capacity=3))
    mine = [ticket(svc, subject=f"a{i}", team_id=t["id"], assignee_id=A) for i in range(4)]
    patch_ticket(svc, mine[3], status="pending")
    assert counts(svc, t) == {A: 4, B: 0}
    resp = svc.client.patch(f"/v1/teams/{t['id']}/members/{A}", json={"available": False}, headers=svc.headers("a"))
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {**resp.get_json(), "available": False, "open_count": 1}
    after = [get_ticket(svc, r)["assignee_id"] for r in mine]
    # bob takes what fits (capacity 3), pending stays with ann.
    assert after == [B, B, B, A]
    assert counts(svc, t) == {A: 1, B: 3}
    assert [n["user_ids"] for n in notifications(svc)][-3:] == [[B]] * 3


def test_handing_on_without_room_returns_tickets_to_the_team(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    t = team(svc, assignment_mode="round_robin", members=members("ann", "bob", capacity=1))
    first, second = ticket(svc, team_id=t["id"]), ticket(svc, team_id=t["id"])
    assert (first["assignee_id"], second["assignee_id"]) == (A, B)
    svc.client.patch(f"/v1/teams/{t['id']}/members/{A}", json={"available": False, "reassign": "all"},
                     headers=svc.headers("a"))
    assert get_ticket(svc, first)["assignee_id"] is None and get_ticket(svc, first)["team_id"] == t["id"]
    # ann comes back: the waiting ticket is hers again (in the same transaction).
    back = svc.client.patch(f"/v1/teams/{t['id']}/members/{A}", json={"available": True}, headers=svc.headers("a"))
    assert back.get_json()["open_count"] == 1
    assert get_ticket(svc, first)["assignee_id"] == A


def test_reassign_none_keeps_tickets_and_removal_hands_on(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    t = team(svc, assignment_mode="least_open", members=members("ann", "bob"))
    rec = ticket(svc, team_id=t["id"], assignee_id=A)
    svc.client.patch(f"/v1/teams/{t['id']}/members/{A}", json={"available": False, "reassign": "none"},
                     headers=svc.headers("a"))
    assert get_ticket(svc, rec)["assignee_id"] == A
    svc.client.patch(f"/v1/teams/{t['id']}/members/{A}", json={"available": True}, headers=svc.headers("a"))
    assert svc.client.delete(f"/v1/teams/{t['id']}/members/{A}", headers=svc.headers("a")).status_code == 204
    assert get_ticket(svc, rec)["assignee_id"] == B
    assert counts(svc, t) == {B: 1}


def test_availability_across_teams_and_self_service(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    one = team(svc, name="One", assignment_mode="round_robin", members=members("ann", "bob"))
    two = team(svc, name="Two", assignment_mode="round_robin", members=members("ann"))
    member_headers = svc.headers("a", roles=("member",), user_id=user("ann"))
    resp = svc.client.put(f"/v1/teams/availability/{A}", json={"available": False}, headers=member_headers)
    assert resp.status_code == 200, resp.get_json()
    assert sorted(t["name"] for t in resp.get_json()["data"]) == ["One", "Two"]
    assert all(not m["available"] for t in (one, two) for m in get_team(svc, t)["members"] if m["user_id"] == A)
    # Only her own availability: not someone else's, not her capacity, not the team.
    assert svc.client.put(f"/v1/teams/availability/{B}", json={"available": False},
                          headers=member_headers).status_code == 403
    assert svc.client.patch(f"/v1/teams/{one['id']}/members/{A}", json={"capacity": 9},
                            headers=member_headers).status_code == 403
    assert svc.client.patch(f"/v1/teams/{one['id']}", json={"name": "x"}, headers=member_headers).status_code == 403
    assert svc.client.patch(f"/v1/teams/{one['id']}/members/{A}", json={"available": True},
                            headers=member_headers).status_code == 200


def test_assignment_notifies_the_assignee_but_not_a_self_assignment(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    t = team(svc, assignment_mode="round_robin", members=members("ann"))
    routed = ticket(svc, team_id=t["id"])
    [note] = notifications(svc)
    assert note["user_ids"] == [A] and note["subject_id"] == routed["id"] and note["subject_type"] == "ticket"
    assert note["title"].startswith(f"Ticket #{routed['number']} assigned to you")
    ticket(svc, assignee_id=B, actor=user("bob"))  # bob takes one himself
    rec = ticket(svc)
    patch_ticket(svc, rec, assignee_id=C, actor=user("ann"))
    assert [n["user_ids"] for n in notifications(svc)] == [[A], [C]]
    assert notifications(svc)[-1]["actor_id"] == A


def test_deleted_ticket_frees_its_slot_through_the_consumer(tickets_service: ServiceHarness) -> None:
    from crm_testing.apps import drain
    from tickets.service.routing import CONSUMER_GROUP, TICKET_TOPIC, deleted_handlers

    svc = tickets_service
    t = team(svc, assignment_mode="round_robin", members=members("ann", capacity=5))
    rec = ticket(svc, team_id=t["id"])
    assert svc.client.delete(f"/v1/tickets/{rec['id']}", headers=svc.headers("a")).status_code == 204
    svc.publish_outbox()
    drain(svc.consumer(CONSUMER_GROUP, [TICKET_TOPIC], deleted_handlers()))
    assert counts(svc, t) == {A: 0}


def _warn(svc: ServiceHarness, rec: dict, target: str = "first_response") -> None:
    runtime = svc.app.extensions["crm_runtime"]
    desk = build_desk(runtime.settings, runtime.outbox)
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        found = session.scalars(select(Ticket).where(Ticket.id == uuid.UUID(rec["id"]))).one()
        desk.hooks.on_sla_warning(session, found, target)


def test_sla_warning_escalates_to_the_lead(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    lead = user("lead")
    quiet = team(svc, name="Quiet", lead_id=lead, assignment_mode="round_robin", members=members("ann"))
    notify = team(svc, name="Notify", lead_id=lead, escalate_on_sla_warning=True, members=members("bob"))
    hand = team(svc, name="Hand", lead_id=lead, escalate_on_sla_warning=True, sla_escalation="reassign",
                assignment_mode="round_robin", members=members("cat"))
    for t in (quiet, notify, hand):
        _warn(svc, ticket(svc, subject=t["name"], team_id=t["id"]))
    escalations = notifications(svc, "ticket_escalated")
    assert [e["user_ids"] for e in escalations] == [[str(lead)], [str(lead)]]
    assert [e["data"]["reassigned"] for e in escalations] == [False, True]
    assert escalations[0]["data"]["target"] == "first_response"
    handed = [t for t in svc.client.get("/v1/tickets", headers=svc.headers("a")).get_json()["data"]
              if t["subject"] == "Hand"][0]
    assert handed["assignee_id"] == str(lead)
    assert counts(svc, hand) == {C: 0}
    # The lead was told once (the escalation), not a second time as the new assignee.
    assert str(lead) not in {u for n in notifications(svc) for u in n["user_ids"]}


def test_a_member_list_edit_hands_on_and_fills_room(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    t = team(svc, assignment_mode="round_robin", members=members("ann", capacity=1))
    held, queued = ticket(svc, team_id=t["id"]), ticket(svc, team_id=t["id"])
    assert (held["assignee_id"], queued["assignee_id"]) == (A, None)
    patch_ticket(svc, held, status="on_hold")
    # One edit: ann away (handing on everything she holds, on hold too), bob joins with room for two.
    resp = svc.client.patch(f"/v1/teams/{t['id']}", json={"reassign": "all", "members": [
        {"user_id": A, "available": False}, {"user_id": B, "capacity": 2}]}, headers=svc.headers("a"))
    assert resp.status_code == 200, resp.get_json()
    assert {m["user_id"]: m["open_count"] for m in resp.get_json()["members"]} == {A: 0, B: 2}
    assert get_ticket(svc, held)["assignee_id"] == B and get_ticket(svc, queued)["assignee_id"] == B


def test_a_new_member_brings_their_open_tickets_into_the_count(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    t = team(svc, assignment_mode="round_robin", members=members("ann"))
    already = ticket(svc, team_id=t["id"], assignee_id=B)  # bob is not a member yet
    assert already["assignee_id"] == B and counts(svc, t) == {A: 0}
    resp = svc.client.post(f"/v1/teams/{t['id']}/members", json={"user_id": B, "capacity": 1}, headers=svc.headers("a"))
    assert resp.status_code == 201 and resp.get_json()["open_count"] == 1
    assert ticket(svc, team_id=t["id"])["assignee_id"] == A  # bob is full
