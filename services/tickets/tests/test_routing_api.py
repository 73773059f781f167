"""/v1/teams (+ members) and /v1/routing-rules: CRUD, validation naming the field, admin-only writes,
events, and tenant isolation."""

from __future__ import annotations

import uuid

import pytest
from routing_helpers import members, outbox, rule, team, ticket, user

from crm_testing.apps import ServiceHarness

A, B = str(user("ann")), str(user("bob"))


def test_team_crud_and_members(tickets_service: ServiceHarness) -> None:
    svc, h = tickets_service, tickets_service.headers("a")
    created = team(svc, name="  Support ", lead_id=str(user("lead")), assignment_mode="round_robin",
                   members=members("ann", capacity=3) + members("bob", available=False))
    assert created["name"] == "Support" and created["lead_id"] == str(user("lead"))
    assert (created["escalate_on_sla_warning"], created["sla_escalation"]) == (False, "notify")
    assert [(m["user_id"], m["capacity"], m["available"], m["open_count"]) for m in created["members"]] == [
        (A, 3, True, 0), (B, None, False, 0)]
    url = f"/v1/teams/{created['id']}"
    got = svc.client.get(url, headers=h)
    assert got.status_code == 200 and got.headers["ETag"] == '"1"'
    # Sending the member list back without `available` keeps each member's availability.
    patched = svc.client.patch(url, json={"members": [{"user_id": B}, {"user_id": A, "capacity": 1}]},
                               headers={**h, "If-Match": '"1"'})
    assert patched.status_code == 200, patched.get_json()
    assert [(m["user_id"], m["capacity"], m["available"]) for m in patched.get_json()["members"]] == [
        (B, None, False), (A, 1, True)]
    assert patched.get_json()["version"] == 2
    stale = svc.client.patch(url, json={"name": "x"}, headers={**h, "If-Match": '"1"'})
    assert stale.status_code == 412
    listed = svc.client.get("/v1/teams?sort=name", headers=h).get_json()
    assert [t["id"] for t in listed["data"]] == [created["id"]]
    # Member sub-routes.
    cat = str(user("cat"))
    added = svc.client.post(f"{url}/members", json={"user_id": cat, "capacity": 2}, headers=h)
    assert added.status_code == 201 and added.get_json()["capacity"] == 2
    assert added.headers["Location"] == f"{url}/members/{cat}"
    assert svc.client.post(f"{url}/members", json={"user_id": cat}, headers=h).status_code == 409
    assert [m["user_id"] for m in svc.client.get(f"{url}/members", headers=h).get_json()["data"]] == [B, A, cat]
    assert svc.client.get(f"{url}/members/{cat}", headers=h).get_json()["capacity"] == 2
    assert svc.client.patch(f"{url}/members/{cat}", json={"capacity": None}, headers=h).get_json()["capacity"] is None
    assert svc.client.delete(f"{url}/members/{cat}", headers=h).status_code == 204
    assert svc.client.get(f"{url}/members/{cat}", headers=h).status_code == 404
    assert svc.client.patch(f"{url}/members/{cat}", json={"available": False}, headers=h).status_code == 404
    assert svc.client.delete(url, headers=h).status_code == 204
    assert svc.client.get(url, headers=h).status_code == 404
    types = [e["type"] for e in outbox(svc) if e["type"].startswith("crm.team.")]
    assert types == ["crm.team.created", "crm.team.updated", "crm.team.updated", "crm.team.updated",
                     "crm.team.updated", "crm.team.deleted"]


def test_team_validation_names_fields(tickets_service: ServiceHarness) -> None:
    c, h = tickets_service.client, tickets_service.headers("a")
    bad = c.post("/v1/teams", json={"assignment_mode": "random", "sla_escalation": "shout", "lead_id": "x",
                                    "members": [{"user_id": A, "capacity": -1}, {"capacity": 2}]}, headers=h)
    assert bad.status_code == 422
    assert set(bad.get_json()["errors"]) == {"name", "assignment_mode", "sla_escalation", "lead_id",
                                             "members.0.capacity", "members.1.user_id"}
    dup = c.post("/v1/teams", json={"name": "x", "members": [{"user_id": A}, {"user_id": A}]}, headers=h)
    assert dup.status_code == 422 and "members" in dup.get_json()["errors"]
    rec = team(tickets_service)
    assert c.patch(f"/v1/teams/{rec['id']}/members/{A}", json={"available": "maybe"}, headers=h).status_code == 422
    assert c.delete(f"/v1/teams/{rec['id']}/members/{A}?reassign=later", headers=h).status_code in (400, 404)


def test_rule_crud_and_validation(tickets_service: ServiceHarness) -> None:
    svc, h = tickets_service, tickets_service.headers("a")
    t = team(svc)
    second = rule(svc, name="Second", team_id=t["id"], position=2)
    first = rule(svc, name="First", condition="priority = 'urgent'", set_priority="high", add_tags=["a", "a", "b"],
                 position=1)
    assert first["add_tags"] == ["a", "b"] and first["enabled"] is True
    listed = svc.client.get("/v1/routing-rules", headers=h).get_json()["data"]
    assert [r["name"] for r in listed] == ["First", "Second"]
    bad_condition = svc.client.post("/v1/routing-rules", json={"name": "x", "condition": "nope = 1", "team_id": t["id"]},
                                    headers=h)
    assert bad_condition.status_code == 422 and set(bad_condition.get_json()["errors"]) == {"condition"}
    syntax = svc.client.patch(f"/v1/routing-rules/{first['id']}", json={"condition": "priority = "}, headers=h)
    assert syntax.status_code == 422 and set(syntax.get_json()["errors"]) == {"condition"}
    nothing = svc.client.post("/v1/routing-rules", json={"name": "x"}, headers=h)
    assert nothing.status_code == 422 and "team_id" in nothing.get_json()["errors"]
    emptied = svc.client.patch(f"/v1/routing-rules/{second['id']}", json={"team_id": None}, headers=h)
    assert emptied.status_code == 422 and "team_id" in emptied.get_json()["errors"]
    unknown = svc.client.post("/v1/routing-rules", json={"name": "x", "team_id": str(uuid.uuid4())}, headers=h)
    assert unknown.status_code == 422 and set(unknown.get_json()["errors"]) == {"team_id"}
    bad_fields = svc.client.post("/v1/routing-rules", json={"name": "", "set_priority": "asap", "position": -1}, headers=h)
    assert set(bad_fields.get_json()["errors"]) == {"name", "set_priority", "position"}
    # A team that rules route to is not deleted under them.
    blocked = svc.client.delete(f"/v1/teams/{t['id']}", headers=h)
    assert blocked.status_code == 409 and blocked.get_json()["rules"] == [second["id"]]
    assert svc.client.delete(f"/v1/routing-rules/{second['id']}", headers=h).status_code == 204
    assert svc.client.delete(f"/v1/teams/{t['id']}", headers=h).status_code == 204


def test_ticket_with_unknown_team_is_refused(tickets_service: ServiceHarness) -> None:
    svc, h = tickets_service, tickets_service.headers("a")
    resp = svc.client.post("/v1/tickets", json={"subject": "x", "team_id": str(uuid.uuid4())}, headers=h)
    assert resp.status_code == 422 and set(resp.get_json()["errors"]) == {"team_id"}
    rec = ticket(svc)
    moved = svc.client.patch(f"/v1/tickets/{rec['id']}", json={"team_id": str(uuid.uuid4())}, headers=h)
    assert moved.status_code == 422 and set(moved.get_json()["errors"]) == {"team_id"}


@pytest.mark.parametrize("roles", [("member",), ("viewer",)])
def test_writes_need_an_admin(tickets_service: ServiceHarness, roles: tuple[str, ...]) -> None:
    svc = tickets_service
    t = team(svc, members=members("ann"))
    h = svc.headers("a", roles=roles)
    assert svc.client.post("/v1/teams", json={"name": "x"}, headers=h).status_code == 403
    assert svc.client.post("/v1/routing-rules", json={"name": "x", "team_id": t["id"]}, headers=h).status_code == 403
    assert svc.client.post(f"/v1/teams/{t['id']}/members", json={"user_id": B}, headers=h).status_code == 403
    assert svc.client.delete(f"/v1/teams/{t['id']}/members/{A}", headers=h).status_code == 403
    assert svc.client.get(f"/v1/teams/{t['id']}", headers=h).status_code == 200
    no_scope = svc.headers("a", scopes=["tickets:read"])
    assert svc.client.patch(f"/v1/teams/{t['id']}/members/{A}", json={"available": False},
                            headers=no_scope).status_code == 403


def test_isolation(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    ha, hb = svc.headers("a"), svc.headers("b")
    t = team(svc, "a", members=members("ann"), assignment_mode="round_robin")
    r = rule(svc, "a", team_id=t["id"])
    team_url, rule_url = f"/v1/teams/{t['id']}", f"/v1/routing-rules/{r['id']}"
    for url in (team_url, rule_url, f"{team_url}/members", f"{team_url}/members/{A}"):
        assert svc.client.get(url, headers=hb).status_code == 404, url
    assert svc.client.get("/v1/teams", headers=hb).get_json()["data"] == []
    assert svc.client.get("/v1/routing-rules", headers=hb).get_json()["data"] == []
    assert svc.client.patch(team_url, json={"name": "mine"}, headers=hb).status_code == 404
    assert svc.client.patch(rule_url, json={"name": "mine"}, headers=hb).status_code == 404
    assert svc.client.patch(f"{team_url}/members/{A}", json={"available": False}, headers=hb).status_code == 404
    assert svc.client.post(f"{team_url}/members", json={"user_id": B}, headers=hb).status_code == 404
    assert svc.client.delete(f"{team_url}/members/{A}", headers=hb).status_code == 404
    assert svc.client.delete(rule_url, headers=hb).status_code == 404
    assert svc.client.delete(team_url, headers=hb).status_code == 404
    # B's availability route finds no team of A's, and changes nothing there.
    assert svc.client.put(f"/v1/teams/availability/{A}", json={"available": False}, headers=hb).status_code == 404
    # Nor can B use A's team: in a rule or on a ticket.
    used = svc.client.post("/v1/routing-rules", json={"name": "x", "team_id": t["id"]}, headers=hb)
    assert used.status_code == 422 and set(used.get_json()["errors"]) == {"team_id"}
    on_ticket = svc.client.post("/v1/tickets", json={"subject": "x", "team_id": t["id"]}, headers=hb)
    assert on_ticket.status_code == 422 and set(on_ticket.get_json()["errors"]) == {"team_id"}
    # A's rule never routes B's tickets.
    b_ticket = ticket(svc, "b")
    assert b_ticket["team_id"] is None and b_ticket["assignee_id"] is None
    # A is untouched.
    after = svc.client.get(team_url, headers=ha).get_json()
    assert after["name"] == "Support" and after["members"][0]["available"] is True and after["version"] == 1
    assert svc.client.get(rule_url, headers=ha).get_json()["name"] == "A rule"


def test_openapi_documents_the_routes(tickets_service: ServiceHarness) -> None:
    paths = tickets_service.app.extensions["crm_runtime"].doc.spec()["paths"]
    assert {"/v1/teams", "/v1/teams/{record_id}", "/v1/teams/{team_id}/members", "/v1/teams/{team_id}/members/{user_id}",
            "/v1/teams/availability/{user_id}", "/v1/routing-rules", "/v1/routing-rules/{record_id}"} <= set(paths)
    assert set(paths["/v1/teams/{team_id}/members/{user_id}"]) == {"get", "patch", "delete"}
