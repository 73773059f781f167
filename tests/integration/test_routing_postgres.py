"""Routing on PostgreSQL (app role, RLS on): concurrent ticket creations and closures never put an
agent beyond capacity, and the members' open counts always equal their open tickets.

Creations serialise on the tenant's ticket counter, so the closures (which free a slot and hand
it to the oldest waiting ticket, without the counter) are what races the assignments here.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tickets
from crm_core.context import tenant_context
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, pg_harness
from tickets.app import create_app
from tickets.models import metadata
from tickets.service import routing_assign

AGENTS = [uuid.uuid5(uuid.NAMESPACE_URL, f"agent:{n}") for n in range(3)]
CAPACITY = 2


@pytest.fixture
def pg_tickets(pg_admin_url: str, tmp_path: Path) -> Iterator[ServiceHarness]:
    yield from pg_harness("tickets", create_app, metadata(), migrations_dir(tickets.__file__), tmp_path, pg_admin_url)


def _parallel(svc: ServiceHarness, calls: list[tuple[str, str, dict[str, Any]]]) -> list[int]:
    """Run the requests at once (a barrier releases them together); their status codes."""
    statuses: list[int] = [0] * len(calls)
    barrier = threading.Barrier(len(calls))
    headers = svc.headers("a")

    def run(i: int, method: str, url: str, body: dict[str, Any]) -> None:
        client = svc.app.test_client()
        barrier.wait(10)
        resp = client.open(url, method=method, json=body, headers=headers)
        statuses[i] = resp.status_code
        if resp.status_code >= 300:
            print(resp.get_json())

    threads = [threading.Thread(target=run, args=(i, *call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return statuses


def _check(svc: ServiceHarness, team: dict[str, Any]) -> Counter[str]:
    """Per agent: open tickets <= capacity, and open_count == open tickets. Returns the counts."""
    data = svc.client.get("/v1/tickets?limit=200", headers=svc.headers("a")).get_json()["data"]
    held = Counter(t["assignee_id"] for t in data if t["assignee_id"] and t["status"] not in ("resolved", "closed"))
    shown = svc.client.get(f"/v1/teams/{team['id']}", headers=svc.headers("a")).get_json()["members"]
    assert all(n <= CAPACITY for n in held.values()), held
    assert {m["user_id"]: m["open_count"] for m in shown} == {str(a): held.get(str(a), 0) for a in AGENTS}
    return held


@pytest.mark.parametrize("mode", ["round_robin", "least_open"])
def test_concurrent_creations_and_closures_respect_capacity(pg_tickets: ServiceHarness, mode: str) -> None:
    svc = pg_tickets
    resp = svc.client.post("/v1/teams", json={"name": "Support", "assignment_mode": mode, "members": [
        {"user_id": str(a), "capacity": CAPACITY} for a in AGENTS]}, headers=svc.headers("a"))
    assert resp.status_code == 201, resp.get_json()
    team = resp.get_json()

    # 1. Twelve creations at once (also the tenant's first: they race to create its ticket counter): six fit (3 agents x 2), six wait with the team.
    statuses = _parallel(svc, [("POST", "/v1/tickets", {"subject": f"t{i}", "team_id": team["id"]}) for i in range(12)])
    assert statuses == [201] * 12
    held = _check(svc, team)
    assert sum(held.values()) == len(AGENTS) * CAPACITY

    # 2. Close every assigned ticket while twelve more arrive: each closure hands its slot to a
    # waiting ticket, concurrently with the creations' assignments.
    data = svc.client.get("/v1/tickets?limit=200", headers=svc.headers("a")).get_json()["data"]
    assigned = [t for t in data if t["assignee_id"]]
    calls = [("PATCH", f"/v1/tickets/{t['id']}", {"status": "closed"}) for t in assigned]
    calls += [("POST", "/v1/tickets", {"subject": f"u{i}", "team_id": team["id"]}) for i in range(12)]
    statuses = _parallel(svc, calls)
    assert statuses == [200] * len(assigned) + [201] * 12
    held = _check(svc, team)
    # Slots were freed and refilled: every agent is busy again (only SKIP LOCKED could leave a
    # slot empty, when every candidate was locked at that instant; the counts above still hold).
    assert sum(held.values()) >= 1


def test_concurrent_picks_skip_locked_members(pg_tickets: ServiceHarness) -> None:
    """Without the ticket counter in the way: ten transactions pick at the same moment (all hold
    their pick until every one has picked). SKIP LOCKED hands each member to one transaction; the
    others find nobody free instead of waiting and then overfilling a member."""
    svc = pg_tickets
    resp = svc.client.post("/v1/teams", json={"name": "Support", "assignment_mode": "least_open", "members": [
        {"user_id": str(a), "capacity": CAPACITY} for a in AGENTS]}, headers=svc.headers("a"))
    team_id = uuid.UUID(resp.get_json()["id"])

    def round_of_picks(n: int) -> list[uuid.UUID | None]:
        picked: list[uuid.UUID | None] = [None] * n
        barrier = threading.Barrier(n)

        def run(i: int) -> None:
            with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
                team = routing_assign.get_team(session, team_id)
                assert team is not None
                row = routing_assign.pick(session, team)
                if row is not None:
                    routing_assign.take(row)
                    session.flush()
                    picked[i] = row.user_id
                barrier.wait(30)  # every transaction has picked (and holds its lock) before any commits

        threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        return picked

    for _ in range(CAPACITY):
        got = [p for p in round_of_picks(10) if p is not None]
        assert sorted(got) == sorted(AGENTS)  # each member exactly once per round
    assert [p for p in round_of_picks(10) if p is not None] == []  # everyone is full
    shown = svc.client.get(f"/v1/teams/{team_id}", headers=svc.headers("a")).get_json()["members"]
    assert {m["open_count"] for m in shown} == {CAPACITY}
