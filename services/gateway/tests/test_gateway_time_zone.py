"""users.time_zone: set by the user on their own profile (PATCH /v1/me) and by admins, validated as
an IANA name, carried in crm.user.* event data for the services' user replicas."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from gwtest import bearer, outbox_events, signup


def test_time_zone_on_profile_and_by_admins(make_gateway: Callable[..., Flask]) -> None:
    app = make_gateway()
    gw = app.test_client()
    owner = signup(gw)
    h = bearer(owner["access_token"])
    me = gw.get("/v1/me", headers=h).get_json()
    assert me["user"]["time_zone"] == "UTC"
    resp = gw.patch("/v1/me", json={"time_zone": "Europe/Berlin"}, headers=h)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["user"]["time_zone"] == "Europe/Berlin"
    assert gw.get("/v1/me", headers=h).get_json()["user"]["time_zone"] == "Europe/Berlin"
    for bad in ("Mars/Olympus", "../../etc/passwd", "", 5):
        resp = gw.patch("/v1/me", json={"time_zone": bad}, headers=h)
        assert resp.status_code == 422 and "time_zone" in resp.get_json()["errors"], bad
    assert gw.patch("/v1/me", json={}, headers=h).status_code == 422

    created = gw.post("/v1/users", json={"email": "ada@example.com", "role": "member", "time_zone": "Asia/Tokyo"},
                      headers=h)
    assert created.status_code == 201 and created.get_json()["time_zone"] == "Asia/Tokyo"
    uid = created.get_json()["id"]
    changed = gw.patch(f"/v1/users/{uid}", json={"time_zone": "America/New_York"}, headers=h)
    assert changed.status_code == 200 and changed.get_json()["time_zone"] == "America/New_York"
    assert gw.patch(f"/v1/users/{uid}", json={"time_zone": "Nowhere"}, headers=h).status_code == 422

    updates = [e["data"] for e in outbox_events(app, "crm.user.updated")]
    assert [u["time_zone"] for u in updates if u["id"] == owner["user"]["id"]] == ["Europe/Berlin"]
    assert [u["time_zone"] for u in updates if u["id"] == uid] == ["America/New_York"]
    created_events = [e["data"] for e in outbox_events(app, "crm.user.created")]
    assert {(u["id"], u["time_zone"], u["active"]) for u in created_events} >= {(uid, "Asia/Tokyo", True)}
