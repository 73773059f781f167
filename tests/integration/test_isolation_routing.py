"""Tenant isolation of routing on the real stack (gateway, PostgreSQL with RLS, Kafka): tenant B can
never see, change, use or be routed by tenant A's teams, members and routing rules."""

from __future__ import annotations

from typing import Any

import pytest

from crm_testing.platform import Platform

pytestmark = pytest.mark.integration


def _ok(platform: Platform, method: str, path: str, token: str, body: dict[str, Any] | None = None,
        status: int = 201) -> dict[str, Any]:
    resp = platform.request(method, path, body, token=token)
    assert resp.status == status, (path, resp.status, resp.data[:500])
    return resp.json()


@pytest.fixture(scope="module")
def world(pg_platform: Platform) -> dict[str, Any]:
    a, b = pg_platform.signup("Routing A"), pg_platform.signup("Routing B")
    ta, agent = a["access_token"], a["user"]["id"]
    team = _ok(pg_platform, "POST", "/v1/teams", ta, {"name": "A support", "assignment_mode": "round_robin",
                                                      "members": [{"user_id": agent, "capacity": 5}]})
    rule = _ok(pg_platform, "POST", "/v1/routing-rules", ta, {"name": "A rule", "team_id": team["id"],
                                                              "add_tags": ["routed-by-a"]})
    routed = _ok(pg_platform, "POST", "/v1/tickets", ta, {"subject": "A's problem"})
    return {"a": a, "b": b, "team": team, "rule": rule, "ticket": routed, "agent": agent}


def test_routing_works_for_a(world: dict[str, Any]) -> None:
    routed = world["ticket"]
    assert routed["team_id"] == world["team"]["id"] and routed["assignee_id"] == world["agent"]
    assert routed["tags"] == ["routed-by-a"]


def test_b_cannot_read_change_or_delete(pg_platform: Platform, world: dict[str, Any]) -> None:
    tb, team, rule, agent = world["b"]["access_token"], world["team"], world["rule"], world["agent"]
    team_url, rule_url = f"/v1/teams/{team['id']}", f"/v1/routing-rules/{rule['id']}"
    member_url = f"{team_url}/members/{agent}"
    for url in (team_url, rule_url, f"{team_url}/members", member_url):
        assert pg_platform.request("GET", url, token=tb).status == 404, url
    for collection in ("/v1/teams", "/v1/routing-rules"):
        assert pg_platform.request("GET", collection, token=tb).json()["data"] == []
    assert pg_platform.request("PATCH", team_url, {"name": "Mine"}, token=tb).status == 404
    assert pg_platform.request("PATCH", rule_url, {"name": "Mine"}, token=tb).status == 404
    assert pg_platform.request("PATCH", member_url, {"available": False}, token=tb).status == 404
    assert pg_platform.request("POST", f"{team_url}/members", {"user_id": world["b"]["user"]["id"]}, token=tb).status == 404
    assert pg_platform.request("DELETE", member_url, token=tb).status == 404
    assert pg_platform.request("DELETE", rule_url, token=tb).status == 404
    assert pg_platform.request("DELETE", team_url, token=tb).status == 404
    # The availability route of B finds none of A's memberships: to B that user is in no team.
    _ok(pg_platform, "PUT", f"/v1/teams/availability/{agent}", tb, {"available": False}, 404)


def test_b_cannot_use_as_team_or_be_routed(pg_platform: Platform, world: dict[str, Any]) -> None:
    tb, team = world["b"]["access_token"], world["team"]
    in_rule = pg_platform.request("POST", "/v1/routing-rules", {"name": "x", "team_id": team["id"]}, token=tb)
    assert in_rule.status == 422 and set(in_rule.json()["errors"]) == {"team_id"}
    on_ticket = pg_platform.request("POST", "/v1/tickets", {"subject": "x", "team_id": team["id"]}, token=tb)
    assert on_ticket.status == 422 and set(on_ticket.json()["errors"]) == {"team_id"}
    mine = _ok(pg_platform, "POST", "/v1/tickets", tb, {"subject": "B's problem"})
    assert (mine["team_id"], mine["assignee_id"], mine["tags"]) == (None, None, [])
    moved = pg_platform.request("PATCH", f"/v1/tickets/{mine['id']}", {"team_id": team["id"]}, token=tb)
    assert moved.status == 422 and set(moved.json()["errors"]) == {"team_id"}


def test_a_is_untouched(pg_platform: Platform, world: dict[str, Any]) -> None:
    ta, team = world["a"]["access_token"], world["team"]
    after = _ok(pg_platform, "GET", f"/v1/teams/{team['id']}", ta, status=200)
    assert after["version"] == team["version"] and after["name"] == "A support"
    assert [(m["available"], m["open_count"]) for m in after["members"]] == [(True, 1)]
    assert _ok(pg_platform, "GET", f"/v1/routing-rules/{world['rule']['id']}", ta, status=200)["name"] == "A rule"
