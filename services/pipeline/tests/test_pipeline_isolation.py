"""Tenant B can neither see nor touch tenant A's pipelines, stages, deals, history or tasks."""

from __future__ import annotations

from pipeline_helpers import invalid_fields, make_deal, make_pipeline, make_task, stage

from crm_testing.apps import ServiceHarness


def _hidden(svc: ServiceHarness, collection: str, record_id: str, change: dict) -> None:
    """B gets 404 on A's record for read, update and delete, and never sees it listed."""
    c, hb = svc.client, svc.headers("b")
    assert c.get(f"/v1/{collection}/{record_id}", headers=hb).status_code == 404
    assert c.patch(f"/v1/{collection}/{record_id}", json=change, headers=hb).status_code == 404
    assert c.delete(f"/v1/{collection}/{record_id}", headers=hb).status_code == 404
    assert record_id not in {r["id"] for r in c.get(f"/v1/{collection}?limit=200", headers=hb).get_json()["data"]}


def test_tenant_isolation(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    c, ha, hb = svc.client, svc.headers("a"), svc.headers("b")
    pa = make_pipeline(svc, "a", is_default=True)
    deal = make_deal(svc, "a", pipeline_id=pa["id"], contact_id="01a2025e-d30d-7000-b597-2cc15812bf3f")
    task = make_task(svc, "a", deal_id=deal["id"], contact_id=deal["contact_id"])
    deal = c.get(f"/v1/deals/{deal['id']}", headers=ha).get_json()  # the task moved its activity dates
    pb = make_pipeline(svc, "b")

    _hidden(svc, "pipelines", pa["id"], {"name": "stolen"})
    _hidden(svc, "deals", deal["id"], {"name": "stolen"})
    _hidden(svc, "tasks", task["id"], {"title": "stolen"})
    assert c.get(f"/v1/deals/{deal['id']}/history", headers=hb).status_code == 404

    # filters with A's ids find nothing in B
    for query in (f"pipeline_id={pa['id']}", f"stage_id={deal['stage_id']}", f"contact_id={deal['contact_id']}"):
        assert c.get(f"/v1/deals?{query}", headers=hb).get_json()["data"] == [], query
    assert c.get(f"/v1/tasks?deal_id={deal['id']}", headers=hb).get_json()["data"] == []

    # B cannot use A's pipeline, stage or deal, nor A's default pipeline
    own = make_deal(svc, "b")  # B's own default pipeline is provisioned for it, never A's
    assert own["pipeline_id"] not in {pa["id"], pb["id"]}
    assert c.get(f"/v1/pipelines/{own['pipeline_id']}", headers=ha).status_code == 404
    refused = [
        ("/v1/deals", {"name": "D", "pipeline_id": pa["id"]}, "pipeline_id"),
        ("/v1/deals", {"name": "D", "pipeline_id": pb["id"], "stage_id": deal["stage_id"]}, "stage_id"),
        ("/v1/tasks", {"title": "T", "deal_id": deal["id"]}, "deal_id"),
    ]
    for path, body, field in refused:
        assert field in invalid_fields(svc, "POST", path, body, "b")
    deal_b = make_deal(svc, "b", pipeline_id=pb["id"])
    task_b = make_task(svc, "b", contact_id=deal["contact_id"])
    for path, body, field in [
        (f"/v1/deals/{deal_b['id']}", {"pipeline_id": pa["id"]}, "pipeline_id"),
        (f"/v1/deals/{deal_b['id']}", {"stage_id": stage(pa, "Won")["id"]}, "stage_id"),
        (f"/v1/tasks/{task_b['id']}", {"deal_id": deal["id"]}, "deal_id"),
        (f"/v1/pipelines/{pb['id']}", {"stages": [{"id": stage(pa, "Lead")["id"]}]}, "stages.0.id"),
    ]:
        assert field in invalid_fields(svc, "PATCH", path, body, "b")

    # A's records are untouched
    assert c.get(f"/v1/pipelines/{pa['id']}", headers=ha).get_json() == pa
    assert c.get(f"/v1/deals/{deal['id']}", headers=ha).get_json() == deal
    assert c.get(f"/v1/tasks/{task['id']}", headers=ha).get_json() == task
    assert len(c.get(f"/v1/deals/{deal['id']}/history", headers=ha).get_json()["data"]) == 1
    # and B's stage edits did not reach A's stages
    assert c.get(f"/v1/pipelines/{pb['id']}", headers=hb).get_json()["stages"] == pb["stages"]


def test_same_names_in_two_tenants(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    pa, pb = make_pipeline(svc, "a", is_default=True), make_pipeline(svc, "b", is_default=True)
    assert {s["id"] for s in pa["stages"]}.isdisjoint(s["id"] for s in pb["stages"])
    # each tenant's default is its own: one default per tenant, not per table
    assert make_deal(svc, "b")["pipeline_id"] == pb["id"]
    assert make_deal(svc, "a")["pipeline_id"] == pa["id"]
