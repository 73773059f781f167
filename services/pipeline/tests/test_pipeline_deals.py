"""/v1/deals and /v1/deals/{id}/history: placement in stages, status rules, events, filters."""

from __future__ import annotations

import datetime as dt

from pipeline_helpers import default_user, invalid_fields, make_deal, make_pipeline, make_task, outbox_events, patch, stage
from prometheus_client import REGISTRY

from crm_testing.apps import ServiceHarness

TODAY = dt.datetime.now(dt.UTC).date().isoformat()


def test_crud_and_defaults(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    p = make_pipeline(svc, is_default=True)
    c, h = svc.client, svc.headers("a")
    resp = c.post("/v1/deals", headers=h, json={
        "name": "Big one", "amount": {"amount": "1234.5", "currency": "EUR"},
        "contact_id": "01a2025e-d30d-7000-b597-2cc15812bf3f", "expected_close_date": "2027-01-31"})
    assert resp.status_code == 201, resp.get_json()
    deal = resp.get_json()
    assert resp.headers["Location"] == f"/v1/deals/{deal['id']}" and resp.headers["ETag"] == '"1"'
    assert deal["amount"] == {"amount": "1234.50", "currency": "EUR"}
    assert (deal["pipeline_id"], deal["stage_id"]) == (p["id"], stage(p, "Lead")["id"])
    assert (deal["status"], deal["probability"], deal["expected_close_date"]) == ("open", 10, "2027-01-31")
    assert c.get(f"/v1/deals/{deal['id']}", headers=h).get_json() == deal
    updated = c.patch(f"/v1/deals/{deal['id']}", json={"name": "Bigger", "amount": None}, headers={**h, "If-Match": '"1"'})
    assert updated.status_code == 200 and updated.get_json()["amount"] is None and updated.get_json()["version"] == 2
    stale = c.patch(f"/v1/deals/{deal['id']}", json={"name": "Stale"}, headers={**h, "If-Match": '"1"'})
    assert stale.status_code == 412 and stale.get_json()["current"]["name"] == "Bigger"
    assert c.delete(f"/v1/deals/{deal['id']}", headers=h).status_code == 204
    assert c.get(f"/v1/deals/{deal['id']}", headers=h).status_code == 404
    assert c.get(f"/v1/deals/{deal['id']}/history", headers=h).status_code == 404


def test_validation(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    c, h = svc.client, svc.headers("a")
    # the tenant's provisioned "Sales" pipeline (made on its first list) was deleted, so it has
    # pipelines but no default one: a deal must name its pipeline
    [sales] = c.get("/v1/pipelines", headers=h).get_json()["data"]
    assert c.delete(f"/v1/pipelines/{sales['id']}", headers=h).status_code == 204
    p, other = make_pipeline(svc), make_pipeline(svc, name="Other")
    assert invalid_fields(svc, "POST", "/v1/deals", {"name": "D"}) == {"pipeline_id"}
    cases = [
        ({}, {"name"}),
        ({"name": "", "amount": {"amount": "x", "currency": "euro"}}, {"name", "amount.amount", "amount.currency"}),
        ({"name": "D", "pipeline_id": "not-a-uuid", "status": "maybe", "expected_close_date": "31/01"},
         {"pipeline_id", "status", "expected_close_date"}),
        ({"name": "D", "pipeline_id": other["id"]}, set()),
        ({"name": "D", "pipeline_id": p["id"], "stage_id": stage(other, "Lead")["id"]}, {"stage_id"}),
        ({"name": "D", "pipeline_id": p["id"], "stage_id": stage(p, "Won")["id"], "status": "open"}, {"status"}),
        ({"name": "D", "pipeline_id": p["id"], "probability": 150, "forecast_category": "closed"}, {"probability"}),
        ({"name": "D", "pipeline_id": p["id"], "forecast_category": "closed"}, {"forecast_category"}),
        ({"name": "D", "pipeline_id": p["id"], "status": "lost"}, {"lost_reason"}),
        ({"name": "D", "pipeline_id": p["id"], "status": "lost", "lost_reason": "Bored"}, {"lost_reason"}),
        ({"name": "D", "pipeline_id": p["id"], "lost_reason": "Price"}, {"lost_reason"}),
        ({"name": "D", "pipeline_id": "01a2025e-d30d-7000-b597-2cc15812bf3f"}, {"pipeline_id"}),
    ]
    for body, fields in cases:
        if fields:
            assert invalid_fields(svc, "POST", "/v1/deals", body) == fields
        else:
            assert c.post("/v1/deals", json=body, headers=h).status_code == 201


def test_stage_moves_set_status_and_status_moves_stage(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    p = make_pipeline(svc)
    deal = make_deal(svc, pipeline_id=p["id"], stage_id=stage(p, "Demo")["id"])
    assert (deal["status"], deal["probability"]) == ("open", 40)
    won = patch(svc, f"/v1/deals/{deal['id']}", stage_id=stage(p, "Won")["id"])
    assert (won["status"], won["probability"], won["expected_close_date"]) == ("won", 100, TODAY)
    reopened = patch(svc, f"/v1/deals/{deal['id']}", status="open")
    assert (reopened["stage_id"], reopened["status"]) == (stage(p, "Lead")["id"], "open")
    assert reopened["expected_close_date"] == TODAY  # a set close date is kept
    lost = patch(svc, f"/v1/deals/{deal['id']}", status="lost", expected_close_date=None, lost_reason="Price")
    assert (lost["stage_id"], lost["probability"], lost["expected_close_date"]) == (stage(p, "Lost")["id"], 0, TODAY)
    lost_again = patch(svc, f"/v1/deals/{deal['id']}", status="lost", expected_close_date="2026-01-02")
    assert lost_again["expected_close_date"] == "2026-01-02" and lost_again["stage_id"] == lost["stage_id"]
    created_won = make_deal(svc, pipeline_id=p["id"], status="won", expected_close_date="2026-05-01")
    assert (created_won["stage_id"], created_won["expected_close_date"]) == (stage(p, "Won")["id"], "2026-05-01")
    # a pipeline without a won stage cannot win a deal
    plain = make_pipeline(svc, name="Plain", stages=[{"name": "Only", "probability": 50}])
    assert invalid_fields(svc, "POST", "/v1/deals", {"name": "D", "pipeline_id": plain["id"], "status": "won"}) == {"status"}


def test_moving_to_another_pipeline(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    p, other = make_pipeline(svc), make_pipeline(svc, name="Other")
    deal = make_deal(svc, pipeline_id=p["id"], stage_id=stage(p, "Demo")["id"])
    moved = patch(svc, f"/v1/deals/{deal['id']}", pipeline_id=other["id"])
    assert (moved["pipeline_id"], moved["stage_id"]) == (other["id"], stage(other, "Lead")["id"])
    assert invalid_fields(svc, "PATCH", f"/v1/deals/{deal['id']}", {"stage_id": stage(p, "Demo")["id"]}) == {"stage_id"}


def test_events_and_won_metric(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    p = make_pipeline(svc)
    won_before = REGISTRY.get_sample_value("crm_deals_won_total") or 0.0
    deal = make_deal(svc, pipeline_id=p["id"])
    patch(svc, f"/v1/deals/{deal['id']}", name="Renamed")
    patch(svc, f"/v1/deals/{deal['id']}", stage_id=stage(p, "Won")["id"])
    patch(svc, f"/v1/deals/{deal['id']}", status="lost", lost_reason="price")  # matched case-insensitively
    assert svc.client.delete(f"/v1/deals/{deal['id']}", headers=svc.headers("a")).status_code == 204
    everything = outbox_events(svc, "crm.deal.")
    events = [e for e in everything if e["type"] != "crm.deal.changed"]
    logged = [(e["data"]["change"]["field"], e["data"]["change"]["new_value"]) for e in everything if e["type"] == "crm.deal.changed"]
    assert logged == [("stage_id", stage(p, "Won")["id"]), ("expected_close_date", TODAY), ("probability", 100),
                      ("forecast_category", "closed"), ("status", "won"),
                      ("stage_id", stage(p, "Lost")["id"]), ("probability", 0), ("status", "lost")]
    assert [e["type"] for e in events] == [
        "crm.deal.created", "crm.deal.updated",
            "crm.deal.updated", "crm.deal.stage_changed", "crm.deal.won",
            "crm.deal.updated", "crm.deal.stage_changed", "crm.deal.lost",
            "crm.deal.deleted"]
    assert {e["topic"] for e in events} == {"crm.pipeline.deal"} and {e["subject"] for e in events} == {deal["id"]}
    assert events[1]["data"]["changes"] == {"name": ["Deal", "Renamed"]}
    changed = events[3]["data"]
    assert (changed["from_stage_id"], changed["to_stage_id"]) == (stage(p, "Lead")["id"], stage(p, "Won")["id"])
    assert changed["entered_at"] == changed["stage_entered_at"] and changed["previous_stage_duration_seconds"] >= 0
    assert changed["previous_stage_entered_at"] == deal["stage_entered_at"]
    assert events[6]["data"]["lost_reason"] == "Price" and events[6]["data"]["lost_at"] and events[6]["data"]["won_at"] is None
    assert changed["status"] == "won" and events[3]["data"]["status"] == "won"
    assert events[2]["data"]["changes"]["status"] == ["open", "won"]
    assert events[2]["data"]["changes"]["probability"] == [10, 100]
    assert (REGISTRY.get_sample_value("crm_deals_won_total") or 0.0) == won_before + 1


def test_filters_and_sorts(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    p, other = make_pipeline(svc), make_pipeline(svc, name="Other")
    contact = "01a2025e-d30d-7000-b597-2cc15812bf3f"
    a = make_deal(svc, name="A", pipeline_id=p["id"], amount={"amount": "30", "currency": "EUR"}, contact_id=contact)
    b = make_deal(svc, name="B", pipeline_id=p["id"], status="won", amount={"amount": "10", "currency": "EUR"})
    c_ = make_deal(svc, name="C", pipeline_id=other["id"], expected_close_date="2026-01-01")
    c, h = svc.client, svc.headers("a")

    def names(query: str) -> list[str]:
        resp = c.get(f"/v1/deals?{query}", headers=h)
        assert resp.status_code == 200, resp.get_json()
        return [d["name"] for d in resp.get_json()["data"]]

    assert names(f"pipeline_id={p['id']}&sort=name") == ["A", "B"]
    assert names(f"stage_id={b['stage_id']}") == ["B"]
    assert names("status=open&sort=-name") == ["C", "A"]
    assert names(f"contact_id={contact}") == ["A"]
    assert names(f"status=open&pipeline_id={other['id']}") == ["C"]
    assert names("sort=amount") == ["B", "A", "C"]  # no amount sorts last
    assert names("sort=-expected_close_date,name") == ["B", "C", "A"]  # B was won today; no date sorts last
    assert names("limit=1&sort=name") == ["A"]
    for query, param in [("pipeline_id=nope", "pipeline_id"), ("status=maybe", "status"), ("stage_id=1", "stage_id"),
                         ("contact_id=x", "contact_id"), ("sort=nope", "sort")]:
        resp = c.get(f"/v1/deals?{query}", headers=h)
        assert resp.status_code == 400 and param in resp.get_json()["errors"], query
    assert a["id"] and c_["id"]


def test_history_newest_first_with_cursor(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    p = make_pipeline(svc)
    deal = make_deal(svc, pipeline_id=p["id"])
    for name in ("Demo", "Won", "Lead"):
        patch(svc, f"/v1/deals/{deal['id']}", stage_id=stage(p, name)["id"])
    patch(svc, f"/v1/deals/{deal['id']}", name="Not a move")
    c, h = svc.client, svc.headers("a")
    page1 = c.get(f"/v1/deals/{deal['id']}/history?limit=3&field=stage_id", headers=h).get_json()
    page2 = c.get(f"/v1/deals/{deal['id']}/history?limit=3&field=stage_id&cursor={page1['next_cursor']}", headers=h).get_json()
    assert page2["next_cursor"] is None
    rows = page1["data"] + page2["data"]
    ids = {s["id"]: s["name"] for s in p["stages"]}
    assert [(ids.get(r["from_stage_id"]), ids[r["to_stage_id"]]) for r in rows] == [
        ("Won", "Lead"), ("Demo", "Won"), ("Lead", "Demo"), (None, "Lead")]
    assert {r["changed_by"] for r in rows} == {str(default_user(svc, "a"))}
    assert all(r["deal_id"] == deal["id"] and r["changed_at"].endswith("Z") for r in rows)
    # each stage was left when the next was entered; the current one is open-ended
    assert rows[0]["exited_at"] is None and [r["exited_at"] for r in rows[1:]] == [r["entered_at"] for r in rows[:-1]]
    assert all(r["duration_seconds"] >= 0 for r in rows)
    assert c.get(f"/v1/deals/{deal['id']}/history?cursor=garbage", headers=h).status_code == 400
    assert c.get("/v1/deals/not-a-uuid/history", headers=h).status_code == 404
    assert c.get(f"/v1/deals/{deal['id']}/history", headers=svc.headers("a", scopes=("tickets:read",))).status_code == 403


def test_deleting_a_deal_takes_its_tasks(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    p = make_pipeline(svc)
    deal = make_deal(svc, pipeline_id=p["id"])
    only_deal = make_task(svc, deal_id=deal["id"])
    also_contact = make_task(svc, deal_id=deal["id"], contact_id="01a2025e-d30d-7000-b597-2cc15812bf3f")
    assert svc.client.delete(f"/v1/deals/{deal['id']}", headers=svc.headers("a")).status_code == 204
    c, h = svc.client, svc.headers("a")
    assert c.get(f"/v1/tasks/{only_deal['id']}", headers=h).status_code == 404
    kept = c.get(f"/v1/tasks/{also_contact['id']}", headers=h).get_json()
    assert kept["deal_id"] is None and kept["contact_id"] == also_contact["contact_id"]
    types = [e["type"] for e in outbox_events(svc, "crm.task.")]
    assert types == ["crm.task.created", "crm.task.created", "crm.task.deleted", "crm.task.updated"]


def test_first_deal_before_provisioning_gets_the_default_pipeline(pipeline_service: ServiceHarness) -> None:
    """Right after signup the tenant.created event may not have arrived: the first deal still works."""
    svc = pipeline_service
    resp = svc.client.post("/v1/deals", json={"name": "Early"}, headers=svc.headers("fresh"))
    assert resp.status_code == 201, resp.get_json()
    pipelines = svc.client.get("/v1/pipelines", headers=svc.headers("fresh")).get_json()["data"]
    assert [(p["name"], p["is_default"]) for p in pipelines] == [("Sales", True)]
    assert resp.get_json()["pipeline_id"] == pipelines[0]["id"]
