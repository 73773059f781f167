"""/v1/pipelines: stage lists, their validation, and the rules that protect deals."""

from __future__ import annotations

from pipeline_helpers import STAGES, invalid_fields, make_deal, make_pipeline, outbox_events, patch, stage

from crm_testing.apps import ServiceHarness


def test_create_read_list_delete(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    c, h = svc.client, svc.headers("a")
    resp = c.post("/v1/pipelines", json={"name": " Enterprise ", "stages": STAGES}, headers=h)
    assert resp.status_code == 201
    body = resp.get_json()
    assert resp.headers["Location"] == f"/v1/pipelines/{body['id']}" and resp.headers["ETag"] == '"1"'
    assert body["name"] == "Enterprise" and body["is_default"] is False
    assert [(s["name"], s["position"], s["probability"], s["kind"]) for s in body["stages"]] == [
        ("Lead", 0, 10, "open"), ("Demo", 1, 40, "open"), ("Won", 2, 100, "won"), ("Lost", 3, 0, "lost")]
    assert c.get(f"/v1/pipelines/{body['id']}", headers=h).get_json() == body
    make_pipeline(svc, name="Alpha")
    listed = c.get("/v1/pipelines?sort=name", headers=h).get_json()
    # the first list also provisions the tenant's default "Sales" pipeline
    assert [p["name"] for p in listed["data"]] == ["Alpha", "Enterprise", "Sales"]
    assert listed["data"][1]["stages"] == body["stages"]
    assert c.delete(f"/v1/pipelines/{body['id']}", headers=h).status_code == 204
    assert c.get(f"/v1/pipelines/{body['id']}", headers=h).status_code == 404


def test_validation_names_the_field(pipeline_service: ServiceHarness) -> None:
    def errors(body: dict) -> set[str]:
        return invalid_fields(pipeline_service, "POST", "/v1/pipelines", body)

    assert set(errors({})) == {"name", "stages"}
    assert "stages" in errors({"name": "P", "stages": []})
    dup = errors({"name": "P", "stages": [{"name": "A", "probability": 1}, {"name": "a", "probability": 2}]})
    assert set(dup) == {"stages.1.name"}
    assert set(errors({"name": "P", "stages": [{"name": "W", "probability": 100, "kind": "won"}]})) == {"stages"}
    bad = errors({"name": "P", "stages": [{"name": "A", "probability": 101, "kind": "maybe"}, {"probability": 5}]})
    assert set(bad) == {"stages.0.probability", "stages.0.kind", "stages.1.name"}
    assert set(errors({"name": "P", "stages": [{"name": "A", "probability": "50"}]})) == {"stages.0.probability"}
    unknown_id = errors({"name": "P", "stages": [{"id": "01a2025e-d30d-7000-b597-2cc15812bf3f", "name": "A"}]})
    assert set(unknown_id) == {"stages.0.id"}


def test_patch_replaces_stage_list(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    p = make_pipeline(svc)
    lead, demo, won, lost = (stage(p, n)["id"] for n in ("Lead", "Demo", "Won", "Lost"))
    resp = svc.client.patch(f"/v1/pipelines/{p['id']}", headers={**svc.headers("a"), "If-Match": '"1"'}, json={
        "name": "Renamed",
        "stages": [{"id": demo, "name": "Discovery", "probability": 30}, {"id": lead}, {"name": "Trial", "probability": 60},
                   {"id": won}],
    })
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["version"] == 2 and resp.headers["ETag"] == '"2"'
    assert [(s["id"], s["name"], s["position"], s["probability"]) for s in body["stages"]] == [
        (demo, "Discovery", 0, 30), (lead, "Lead", 1, 10), (body["stages"][2]["id"], "Trial", 2, 60), (won, "Won", 3, 100)]
    assert lost not in {s["id"] for s in body["stages"]}
    assert svc.client.get(f"/v1/pipelines/{p['id']}", headers=svc.headers("a")).get_json()["stages"] == body["stages"]
    # a stage-only edit still moves the version, so If-Match guards stage lists too
    again = patch(svc, f"/v1/pipelines/{p['id']}", stages=[*body["stages"][:3], {"id": won, "probability": 99}])
    assert again["version"] == 3
    stale = svc.client.patch(f"/v1/pipelines/{p['id']}", json={"name": "X"}, headers={**svc.headers("a"), "If-Match": '"2"'})
    assert stale.status_code == 412 and stale.get_json()["current"]["version"] == 3


def test_patch_stage_list_is_validated(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    p, other = make_pipeline(svc), make_pipeline(svc, name="Other")
    lead, won = stage(p, "Lead")["id"], stage(p, "Won")["id"]
    cases = [
        ([{"id": lead}, {"id": lead}], "stages.1.id"),
        ([{"id": lead}, {"id": stage(other, "Demo")["id"]}], "stages.1.id"),
        ([{"id": lead}, {"name": "Lead", "probability": 5}], "stages.1.name"),
        ([{"id": lead, "kind": "lost"}, {"id": won}], "stages"),
        ([{"id": lead}, {"name": "New"}], "stages.1.probability"),
        ([{"id": won, "position": 1}, {"id": lead}], "stages.0.position"),
    ]
    for stages, field in cases:
        assert invalid_fields(svc, "PATCH", f"/v1/pipelines/{p['id']}", {"stages": stages}) == {field}


def test_stages_with_deals_are_protected(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    p = make_pipeline(svc)
    demo = stage(p, "Demo")
    make_deal(svc, pipeline_id=p["id"], stage_id=demo["id"])
    keep_all_but_demo = [{"id": s["id"]} for s in p["stages"] if s["name"] != "Demo"]
    resp = svc.client.patch(f"/v1/pipelines/{p['id']}", json={"stages": keep_all_but_demo}, headers=svc.headers("a"))
    assert resp.status_code == 409
    assert "Demo" in resp.get_json()["detail"] and resp.get_json()["stage_id"] == demo["id"]
    recast = [{"id": s["id"], "kind": "lost"} if s["name"] == "Demo" else {"id": s["id"]} for s in p["stages"]]
    assert svc.client.patch(f"/v1/pipelines/{p['id']}", json={"stages": recast}, headers=svc.headers("a")).status_code == 409
    # renaming and reordering a stage with deals is fine
    moved = [{"id": demo["id"], "name": "Demo call"}, *({"id": s["id"]} for s in p["stages"] if s["name"] != "Demo")]
    assert stage(patch(svc, f"/v1/pipelines/{p['id']}", stages=moved), "Demo call")["position"] == 0
    deleted = svc.client.delete(f"/v1/pipelines/{p['id']}", headers=svc.headers("a"))
    assert deleted.status_code == 409
    assert len(svc.client.get(f"/v1/pipelines/{p['id']}", headers=svc.headers("a")).get_json()["stages"]) == 4


def test_stage_probability_flows_to_its_deals(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    p = make_pipeline(svc)
    deal = make_deal(svc, pipeline_id=p["id"])
    assert deal["probability"] == 10
    patch(svc, f"/v1/pipelines/{p['id']}", stages=[{"id": s["id"], "probability": 15} if s["name"] == "Lead"
                                                   else {"id": s["id"]} for s in p["stages"]])
    now = svc.client.get(f"/v1/deals/{deal['id']}", headers=svc.headers("a")).get_json()
    assert now["probability"] == 15 and now["version"] == deal["version"] + 1


def test_one_default_pipeline_per_tenant(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    first = make_pipeline(svc, is_default=True)
    second = make_pipeline(svc, name="Second", is_default=True)
    c, h = svc.client, svc.headers("a")
    assert c.get(f"/v1/pipelines/{first['id']}", headers=h).get_json()["is_default"] is False
    assert patch(svc, f"/v1/pipelines/{first['id']}", is_default=True)["is_default"] is True
    assert c.get(f"/v1/pipelines/{second['id']}", headers=h).get_json()["is_default"] is False
    assert invalid_fields(svc, "PATCH", f"/v1/pipelines/{first['id']}", {"is_default": False}) == {"is_default"}
    # a deal without pipeline_id lands in the default pipeline's first open stage
    assert make_deal(svc)["stage_id"] == stage(first, "Lead")["id"]


def test_pipeline_events_carry_the_stages(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    p = make_pipeline(svc)
    patch(svc, f"/v1/pipelines/{p['id']}", stages=[{"id": s["id"]} for s in p["stages"][1:]])
    assert svc.client.delete(f"/v1/pipelines/{p['id']}", headers=svc.headers("a")).status_code == 204
    events = outbox_events(svc)
    assert [e["type"] for e in events] == ["crm.pipeline.created", "crm.pipeline.updated", "crm.pipeline.deleted"]
    assert {e["topic"] for e in events} == {"crm.pipeline.pipeline"}
    assert {e["subject"] for e in events} == {p["id"]}
    assert events[0]["data"]["stages"] == p["stages"]
    updated = events[1]["data"]
    assert [s["name"] for s in updated["stages"]] == ["Demo", "Won", "Lost"]
    assert [len(x) for x in updated["changes"]["stages"]] == [4, 3]
    assert [s["name"] for s in events[2]["data"]["stages"]] == ["Demo", "Won", "Lost"]
    assert events[0]["tenant_id"] == str(svc.tenant("a"))


def test_scopes(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    read_only = svc.headers("a", scopes=("pipeline:read",))
    assert svc.client.get("/v1/pipelines", headers=read_only).status_code == 200
    assert svc.client.post("/v1/pipelines", json={"name": "P", "stages": STAGES}, headers=read_only).status_code == 403
    assert svc.client.get("/v1/deals", headers=svc.headers("a", scopes=("contacts:read",))).status_code == 403
    assert svc.client.get("/v1/tasks").status_code == 401
