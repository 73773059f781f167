"""Stage settings of the sales issue: rotten days, default forecast category, archiving, and
deleting a stage that holds deals (its deals move to a target stage, with history)."""

from __future__ import annotations

from pipeline_helpers import invalid_fields, make_deal, make_pipeline, outbox_events, patch, stage

from crm_testing.apps import ServiceHarness


def test_stage_settings_round_trip(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    p = make_pipeline(svc, stages=[{"name": "Lead", "probability": 10, "rotten_days": 14},
                                   {"name": "Hot", "probability": 80},
                                   {"name": "Won", "probability": 100, "kind": "won"}])
    assert [(s["rotten_days"], s["forecast_category"], s["archived"]) for s in p["stages"]] == [
        (14, "pipeline", False), (None, "commit", False), (None, "closed", False)]
    # a read stage list can be sent back as is
    same = patch(svc, f"/v1/pipelines/{p['id']}", stages=p["stages"])
    assert same["stages"] == p["stages"] and same["version"] == p["version"]
    path = f"/v1/pipelines/{p['id']}"
    ids = [{"id": s["id"]} for s in p["stages"]]
    for i, change, field in [(0, {"rotten_days": 0}, "stages.0.rotten_days"), (0, {"forecast_category": "closed"}, "stages.0.forecast_category"),
                             (2, {"forecast_category": "commit"}, "stages.2.forecast_category"),
                             (0, {"forecast_category": "maybe"}, "stages.0.forecast_category")]:
        body = [dict(s) for s in ids]
        body[i].update(change)
        assert invalid_fields(svc, "PATCH", path, {"stages": body}) == {field}
    # archiving the only open stages leaves nowhere for deals to go
    body = [{**s, "archived": True} for s in ids[:2]] + [ids[2]]
    assert invalid_fields(svc, "PATCH", path, {"stages": body}) == {"stages"}


def test_archived_stage_takes_no_new_deals(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    p = make_pipeline(svc)
    lead, demo = stage(p, "Lead")["id"], stage(p, "Demo")["id"]
    sitting = make_deal(svc, pipeline_id=p["id"], stage_id=lead)
    stages = [{"id": s["id"], "archived": s["name"] == "Lead"} for s in p["stages"]]
    archived = patch(svc, f"/v1/pipelines/{p['id']}", stages=stages)
    assert stage(archived, "Lead")["archived"] is True and stage(archived, "Lead")["archived_at"]
    assert invalid_fields(svc, "POST", "/v1/deals", {"name": "D", "pipeline_id": p["id"], "stage_id": lead}) == {"stage_id"}
    # a deal without a stage goes to the first open stage that is not archived
    assert make_deal(svc, pipeline_id=p["id"])["stage_id"] == demo
    # the deal already there stays and may be edited; once moved out, it cannot come back
    assert patch(svc, f"/v1/deals/{sitting['id']}", name="Still here")["stage_id"] == lead
    patch(svc, f"/v1/deals/{sitting['id']}", stage_id=demo)
    assert invalid_fields(svc, "PATCH", f"/v1/deals/{sitting['id']}", {"stage_id": lead}) == {"stage_id"}
    restored = patch(svc, f"/v1/pipelines/{p['id']}", stages=[{"id": s["id"], "archived": False} for s in p["stages"]])
    assert stage(restored, "Lead")["archived"] is False
    assert patch(svc, f"/v1/deals/{sitting['id']}", stage_id=lead)["stage_id"] == lead


def test_deleting_a_stage_with_deals_moves_them(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    c, h = svc.client, svc.headers("a")
    p = make_pipeline(svc, stages=[{"name": "Lead", "probability": 10}, {"name": "Demo", "probability": 40},
                                   {"name": "Trial", "probability": 60}, {"name": "Won", "probability": 100, "kind": "won"},
                                   {"name": "Lost", "probability": 0, "kind": "lost"}])
    demo, trial, won = stage(p, "Demo")["id"], stage(p, "Trial")["id"], stage(p, "Won")["id"]
    deals = [make_deal(svc, name=f"D{i}", pipeline_id=p["id"], stage_id=demo) for i in range(3)]
    # without a target: 409 as before, naming the way out
    refused = c.delete(f"/v1/pipelines/{p['id']}/stages/{demo}", headers=h)
    assert refused.status_code == 409 and "move_deals_to" in refused.get_json()["detail"]
    assert c.delete(f"/v1/pipelines/{p['id']}/stages/{demo}?move_to={won}", headers=h).status_code == 422  # another kind
    assert c.delete(f"/v1/pipelines/{p['id']}/stages/{demo}?move_to={demo}", headers=h).status_code == 422
    assert c.delete(f"/v1/pipelines/{p['id']}/stages/{demo}?move_to=nope", headers=h).status_code == 400
    assert c.delete(f"/v1/pipelines/{p['id']}/stages/{deals[0]['id']}", headers=h).status_code == 404
    resp = c.delete(f"/v1/pipelines/{p['id']}/stages/{demo}?move_to={trial}", headers=h)
    assert resp.status_code == 200, resp.get_json()
    assert [s["name"] for s in resp.get_json()["stages"]] == ["Lead", "Trial", "Won", "Lost"]
    for deal in deals:
        got = c.get(f"/v1/deals/{deal['id']}", headers=h).get_json()
        assert (got["stage_id"], got["probability"]) == (trial, 60)
        history = c.get(f"/v1/deals/{deal['id']}/history?field=stage_id", headers=h).get_json()["data"]
        assert [(r["from_stage_id"], r["to_stage_id"]) for r in history] == [(demo, trial), (None, demo)]
    moved = [e for e in outbox_events(svc, "crm.deal.stage_changed")]
    assert sorted(e["subject"] for e in moved) == sorted(d["id"] for d in deals)
    # the same through a stage list with move_deals_to; an empty stage needs no target
    lead = stage(p, "Lead")["id"]
    make_deal(svc, name="L", pipeline_id=p["id"], stage_id=lead)
    kept = [{"id": s["id"]} for s in resp.get_json()["stages"] if s["id"] != lead]
    path = f"/v1/pipelines/{p['id']}"
    assert invalid_fields(svc, "PATCH", path, {"stages": kept, "move_deals_to": {lead: "01a2025e-d30d-7000-b597-2cc15812bf3f"}}) == {
        f"move_deals_to.{lead}"}
    assert invalid_fields(svc, "PATCH", path, {"move_deals_to": {lead: trial}}) == {"move_deals_to"}
    after = patch(svc, path, stages=kept, move_deals_to={lead: trial})
    assert [s["name"] for s in after["stages"]] == ["Trial", "Won", "Lost"]
    assert c.get(f"/v1/deals?stage_id={trial}", headers=h).get_json()["data"][0]["stage_id"] == trial
    assert len(c.get(f"/v1/deals?filter=stage_id = '{trial}'", headers=h).get_json()["data"]) == 4


def test_a_stage_edit_logs_the_deals_it_changes(pipeline_service: ServiceHarness) -> None:
    """A stage's new probability and category reach its deals (the probability not of one that set
    its own), and their history and events say so."""
    svc = pipeline_service
    p = make_pipeline(svc, stages=[{"name": "Lead", "probability": 10}, {"name": "Won", "probability": 100, "kind": "won"}])
    follows = make_deal(svc, name="follows", pipeline_id=p["id"])
    own = make_deal(svc, name="own", pipeline_id=p["id"], probability=55)
    stages = [{"id": s["id"]} for s in p["stages"]]
    stages[0].update(probability=60, forecast_category="best_case")
    patch(svc, f"/v1/pipelines/{p['id']}", stages=stages)
    h = svc.headers("a")
    entries = svc.client.get(f"/v1/deals/{follows['id']}/history?field=probability,forecast_category", headers=h).get_json()["data"]
    assert sorted((e["field"], e["old_value"], e["new_value"]) for e in entries) == [
        ("forecast_category", "pipeline", "best_case"), ("probability", 10, 60)]
    assert svc.client.get(f"/v1/deals/{own['id']}/history?field=probability",
                          headers=h).get_json()["data"] == []  # its own probability: untouched
    bulk = [e for e in outbox_events(svc, "crm.deal.changed") if e["data"].get("bulk")]
    assert sorted((e["subject"], e["data"]["change"]["field"]) for e in bulk) == sorted([
        (follows["id"], "forecast_category"), (follows["id"], "probability"), (own["id"], "forecast_category")])
