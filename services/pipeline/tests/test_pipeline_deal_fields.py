"""Deal fields of the sales issue: contacts with roles, probability and forecast overrides, close
times and lost reasons, base amounts, card positions, custom fields, filter/sort/q."""

from __future__ import annotations

import datetime as dt
import uuid

from pipeline_helpers import invalid_fields, make_deal, make_pipeline, outbox_events, patch, post, stage
from sqlalchemy import update

from crm_core import context
from crm_testing.apps import ServiceHarness
from pipeline.models import Deal

C1, C2, C3 = ("01a2025e-d30d-7000-b597-2cc15812bf3f", "01a2025e-d30d-7000-b597-2cc15812bf40",
              "01a2025e-d30d-7000-b597-2cc15812bf41")


def names(svc: ServiceHarness, query: str, tenant: str = "a") -> list[str]:
    resp = svc.client.get(f"/v1/deals?{query}", headers=svc.headers(tenant))
    assert resp.status_code == 200, resp.get_json()
    return [d["name"] for d in resp.get_json()["data"]]


def test_contacts_with_roles(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    p = make_pipeline(svc)
    deal = make_deal(svc, pipeline_id=p["id"], contacts=[{"contact_id": C1, "role": "decision_maker"},
                                                         {"contact_id": C2, "role": "champion"}])
    assert deal["contact_id"] == C1
    assert deal["contacts"] == [{"contact_id": C1, "role": "decision_maker"}, {"contact_id": C2, "role": "champion"}]
    # contact_id alone makes a contact the primary one, keeping the others
    swapped = patch(svc, f"/v1/deals/{deal['id']}", contact_id=C2)
    assert swapped["contacts"] == [{"contact_id": C2, "role": "champion"}, {"contact_id": C1, "role": "decision_maker"}]
    assert patch(svc, f"/v1/deals/{deal['id']}", contact_id=None)["contacts"] == [{"contact_id": C1, "role": "decision_maker"}]
    replaced = patch(svc, f"/v1/deals/{deal['id']}", contacts=[{"contact_id": C3}, {"contact_id": C1, "role": "user"}])
    assert replaced["contact_id"] == C3 and replaced["contacts"][0]["role"] == "other"
    assert names(svc, f"filter=contact_id = '{C3}'") == ["Deal"]
    assert names(svc, f"contact_id={C3}") == ["Deal"]
    cleared = patch(svc, f"/v1/deals/{deal['id']}", contacts=[])
    assert cleared["contact_id"] is None and cleared["contacts"] == []
    path = f"/v1/deals/{deal['id']}"
    assert invalid_fields(svc, "PATCH", path, {"contacts": [{"contact_id": C1, "role": "boss"}]}) == {"contacts.0.role"}
    assert invalid_fields(svc, "PATCH", path, {"contacts": [{"contact_id": C1}, {"contact_id": C1}]}) == {"contacts.1.contact_id"}
    assert invalid_fields(svc, "PATCH", path, {"contacts": [{"contact_id": C1}], "contact_id": C2}) == {"contact_id"}


def test_probability_and_forecast_category(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    p = make_pipeline(svc, stages=[{"name": "Lead", "probability": 10}, {"name": "Demo", "probability": 60},
                                   {"name": "Commit", "probability": 90, "forecast_category": "best_case"},
                                   {"name": "Won", "probability": 100, "kind": "won"},
                                   {"name": "Lost", "probability": 0, "kind": "lost"}])
    assert [s["forecast_category"] for s in p["stages"]] == ["pipeline", "best_case", "best_case", "closed", "closed"]
    deal = make_deal(svc, pipeline_id=p["id"])
    assert (deal["probability"], deal["probability_is_manual"], deal["forecast_category"]) == (10, False, "pipeline")
    manual = patch(svc, f"/v1/deals/{deal['id']}", probability=35, forecast_category="commit")
    assert (manual["probability"], manual["probability_is_manual"], manual["forecast_category_is_manual"]) == (35, True, True)
    moved = patch(svc, f"/v1/deals/{deal['id']}", stage_id=stage(p, "Demo")["id"])
    assert (moved["probability"], moved["forecast_category"]) == (35, "commit")  # manual values survive moves
    reset = patch(svc, f"/v1/deals/{deal['id']}", probability=None, forecast_category=None)
    assert (reset["probability"], reset["probability_is_manual"], reset["forecast_category"]) == (60, False, "best_case")
    won = patch(svc, f"/v1/deals/{deal['id']}", status="won")
    assert (won["forecast_category"], won["probability"]) == ("closed", 100)
    assert invalid_fields(svc, "PATCH", f"/v1/deals/{deal['id']}", {"forecast_category": "commit"}) == {"forecast_category"}
    # editing a stage's probability/category moves its deals that did not set their own
    other = make_deal(svc, pipeline_id=p["id"], stage_id=stage(p, "Demo")["id"])
    own = make_deal(svc, pipeline_id=p["id"], stage_id=stage(p, "Demo")["id"], probability=5)
    stages = [{"id": s["id"]} for s in p["stages"]]
    stages[1] = {"id": stage(p, "Demo")["id"], "probability": 70, "forecast_category": "commit"}
    patch(svc, f"/v1/pipelines/{p['id']}", stages=stages)
    c, h = svc.client, svc.headers("a")
    after = c.get(f"/v1/deals/{other['id']}", headers=h).get_json()
    assert (after["probability"], after["forecast_category"], after["version"]) == (70, "commit", other["version"] + 1)
    assert c.get(f"/v1/deals/{own['id']}", headers=h).get_json()["probability"] == 5


def test_close_times_and_lost_reasons(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    p = make_pipeline(svc)
    c, h = svc.client, svc.headers("a")
    settings = c.get("/v1/settings/pipeline", headers=h)
    assert settings.status_code == 200 and settings.headers["ETag"] == '"0"' and "Price" in settings.get_json()["lost_reasons"]
    deal = make_deal(svc, pipeline_id=p["id"])
    assert (deal["won_at"], deal["lost_at"], deal["closed_at"]) == (None, None, None)
    won = patch(svc, f"/v1/deals/{deal['id']}", status="won")
    assert won["won_at"] and won["closed_at"] == won["won_at"] and won["lost_at"] is None
    assert invalid_fields(svc, "PATCH", f"/v1/deals/{deal['id']}", {"status": "lost"}) == {"lost_reason"}
    assert invalid_fields(svc, "PATCH", f"/v1/deals/{deal['id']}", {"stage_id": stage(p, "Lost")["id"]}) == {"lost_reason"}
    lost = patch(svc, f"/v1/deals/{deal['id']}", status="lost", lost_reason="No budget", lost_note="Next year")
    assert lost["lost_at"] and lost["won_at"] is None and (lost["lost_reason"], lost["lost_note"]) == ("No budget", "Next year")
    assert invalid_fields(svc, "PATCH", f"/v1/deals/{deal['id']}", {"lost_reason": None}) == {"lost_reason"}
    reopened = patch(svc, f"/v1/deals/{deal['id']}", status="open")
    assert (reopened["won_at"], reopened["lost_at"], reopened["closed_at"], reopened["lost_reason"]) == (None, None, None, None)
    # the tenant's own list
    resp = c.patch("/v1/settings/pipeline", json={"lost_reasons": ["Too pricey", "Ghosted"], "follow_up_days": 14},
                   headers={**h, "If-Match": '"0"'})
    assert resp.status_code == 200 and resp.headers["ETag"] == '"1"', resp.get_json()
    assert resp.get_json()["follow_up_days"] == 14
    assert invalid_fields(svc, "PATCH", f"/v1/deals/{deal['id']}", {"status": "lost", "lost_reason": "No budget"}) == {"lost_reason"}
    assert patch(svc, f"/v1/deals/{deal['id']}", status="lost", lost_reason="ghosted")["lost_reason"] == "Ghosted"
    stale = c.patch("/v1/settings/pipeline", json={"follow_up_days": 3}, headers={**h, "If-Match": '"0"'})
    assert stale.status_code == 412
    for body, field in [({"base_currency": "euro"}, "base_currency"), ({"lost_reasons": []}, "lost_reasons"),
                        ({"lost_reasons": ["A", "a"]}, "lost_reasons"), ({"follow_up_days": 0}, "follow_up_days")]:
        assert invalid_fields(svc, "PATCH", "/v1/settings/pipeline", body) == {field}
    assert [e["type"] for e in outbox_events(svc, "crm.pipeline_settings.")] == ["crm.pipeline_settings.updated"]
    assert invalid_fields(svc, "PATCH", "/v1/settings/pipeline", {"lost_reason_required": "maybe"}) == {"lost_reason_required"}


def test_a_tenant_may_lose_deals_without_a_reason(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    p = make_pipeline(svc)
    c, h = svc.client, svc.headers("a")
    assert c.get("/v1/settings/pipeline", headers=h).get_json()["lost_reason_required"] is True
    deal = make_deal(svc, pipeline_id=p["id"])
    assert invalid_fields(svc, "PATCH", f"/v1/deals/{deal['id']}", {"status": "lost"}) == {"lost_reason"}
    relaxed = patch(svc, "/v1/settings/pipeline", lost_reason_required=False)
    assert relaxed["lost_reason_required"] is False and relaxed["version"] == 1
    lost = patch(svc, f"/v1/deals/{deal['id']}", status="lost")
    assert lost["status"] == "lost" and lost["lost_reason"] is None
    # a reason that is given is still one of the tenant's
    other = make_deal(svc, name="Other", pipeline_id=p["id"])
    assert invalid_fields(svc, "PATCH", f"/v1/deals/{other['id']}", {"status": "lost", "lost_reason": "Aliens"}) == {"lost_reason"}
    # another tenant keeps the default and cannot see or change this one's
    hb = svc.headers("b")
    assert c.get("/v1/settings/pipeline", headers=hb).get_json()["lost_reason_required"] is True
    assert c.patch("/v1/settings/pipeline", json={"lost_reason_required": True}, headers=hb).status_code == 200
    assert c.get("/v1/settings/pipeline", headers=h).get_json()["lost_reason_required"] is False
    events = outbox_events(svc, "crm.pipeline_settings.")
    assert events[0]["data"]["lost_reason_required"] is False


def test_amount_in_base_and_exchange_rates(both_databases: ServiceHarness) -> None:
    svc = both_databases
    p = make_pipeline(svc)
    c, h = svc.client, svc.headers("a")
    eur = make_deal(svc, name="EUR", pipeline_id=p["id"], amount={"amount": "100", "currency": "EUR"})
    usd = make_deal(svc, name="USD", pipeline_id=p["id"], amount={"amount": "100", "currency": "USD"})
    assert (eur["amount_in_base"], usd["amount_in_base"]) == ("100.00", None)  # EUR is the default base; no USD rate yet
    rate = post(svc, "/v1/exchange-rates", currency="USD", rate="0.9")
    assert c.get(f"/v1/deals/{usd['id']}", headers=h).get_json()["amount_in_base"] == "90.00"
    won = make_deal(svc, name="Won USD", pipeline_id=p["id"], status="won", amount={"amount": "10", "currency": "USD"})
    assert won["amount_in_base"] == "9.00"
    patch(svc, f"/v1/exchange-rates/{rate['id']}", rate="0.5")
    assert c.get(f"/v1/deals/{usd['id']}", headers=h).get_json()["amount_in_base"] == "50.00"  # open deals re-converted
    assert c.get(f"/v1/deals/{won['id']}", headers=h).get_json()["amount_in_base"] == "9.00"  # closed ones keep theirs
    assert names(svc, "filter=amount_in_base >= 60&sort=name") == ["EUR"]
    dup = c.post("/v1/exchange-rates", json={"currency": "USD", "rate": "1"}, headers=h)
    assert dup.status_code == 409
    assert invalid_fields(svc, "POST", "/v1/exchange-rates", {"currency": "EUR", "rate": "2"}) == {"currency"}
    assert invalid_fields(svc, "POST", "/v1/exchange-rates", {"currency": "GBP", "rate": "0"}) == {"rate"}
    # a deal won before its currency had a rate gets its base amount once there is one
    won_gbp = make_deal(svc, name="Won GBP", pipeline_id=p["id"], status="won", amount={"amount": "10", "currency": "GBP"})
    assert won_gbp["amount_in_base"] is None
    gbp = post(svc, "/v1/exchange-rates", currency="GBP", rate="1.2")
    assert c.get(f"/v1/deals/{won_gbp['id']}", headers=h).get_json()["amount_in_base"] == "12.00"
    # a new base needs its own rate (its value in the old base) while there are others ...
    assert invalid_fields(svc, "PATCH", "/v1/settings/pipeline", {"base_currency": "CHF"}) == {"base_currency"}
    # ... from which every rate is re-quoted: 1 USD = 0.5 EUR, so 1 EUR = 2 USD and 1 GBP = 2.4 USD
    patch(svc, "/v1/settings/pipeline", base_currency="USD")
    assert c.get(f"/v1/deals/{usd['id']}", headers=h).get_json()["amount_in_base"] == "100.00"
    assert c.get(f"/v1/deals/{eur['id']}", headers=h).get_json()["amount_in_base"] == "200.00"
    assert c.get(f"/v1/deals/{won['id']}", headers=h).get_json()["amount_in_base"] == "9.00"  # closed: kept
    rates = {r["currency"]: r["rate"] for r in c.get("/v1/exchange-rates", headers=h).get_json()["data"]}
    assert {k: float(v) for k, v in rates.items()} == {"EUR": 2.0, "GBP": 2.4}
    assert c.get(f"/v1/exchange-rates/{rate['id']}", headers=h).status_code == 404  # the new base has no rate
    assert c.delete(f"/v1/exchange-rates/{gbp['id']}", headers=h).status_code == 204
    assert [e["type"] for e in outbox_events(svc, "crm.exchange_rate.")] == [
        "crm.exchange_rate.created", "crm.exchange_rate.updated", "crm.exchange_rate.created",
        "crm.exchange_rate.updated", "crm.exchange_rate.deleted", "crm.exchange_rate.created",
        "crm.exchange_rate.deleted"]


def test_positions_within_a_stage(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    p = make_pipeline(svc)
    a, b, c_ = (make_deal(svc, name=n, pipeline_id=p["id"]) for n in "ABC")
    assert a["position"] < b["position"] < c_["position"]
    patch(svc, f"/v1/deals/{c_['id']}", before_id=a["id"])
    assert names(svc, f"stage_id={a['stage_id']}&sort=position") == ["C", "A", "B"]
    patch(svc, f"/v1/deals/{c_['id']}", after_id=a["id"])
    assert names(svc, f"stage_id={a['stage_id']}&sort=position") == ["A", "C", "B"]
    patch(svc, f"/v1/deals/{a['id']}", position=b["position"] + 100)
    assert names(svc, f"stage_id={a['stage_id']}&sort=position") == ["C", "B", "A"]
    demo = stage(p, "Demo")["id"]
    d = make_deal(svc, name="D", pipeline_id=p["id"], stage_id=demo)
    moved = patch(svc, f"/v1/deals/{b['id']}", stage_id=demo, before_id=d["id"])  # a move and a place at once
    assert moved["position"] < d["position"]
    path = f"/v1/deals/{a['id']}"
    assert invalid_fields(svc, "PATCH", path, {"after_id": d["id"]}) == {"after_id"}  # another stage's card
    assert invalid_fields(svc, "PATCH", path, {"before_id": a["id"]}) == {"before_id"}
    assert invalid_fields(svc, "PATCH", path, {"position": 1, "after_id": c_["id"]}) == {"after_id"}


def test_rotten_and_activity_fields_are_read_only(both_databases: ServiceHarness) -> None:
    svc = both_databases
    p = make_pipeline(svc, stages=[{"name": "Lead", "probability": 10, "rotten_days": 3},
                                   {"name": "Won", "probability": 100, "kind": "won"}])
    fresh = make_deal(svc, name="Fresh", pipeline_id=p["id"])
    old = make_deal(svc, name="Old", pipeline_id=p["id"])
    entered = dt.datetime.fromisoformat(fresh["stage_entered_at"])
    assert dt.datetime.fromisoformat(fresh["rots_at"]) == entered + dt.timedelta(days=3) and fresh["rotten"] is False
    week_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=7)
    with context.tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        session.execute(update(Deal).where(Deal.id == uuid.UUID(old["id"])).values(stage_entered_at=week_ago,
                                                                          rots_at=week_ago + dt.timedelta(days=3)))
    assert names(svc, "filter=rotten = true") == ["Old"]
    assert names(svc, "filter=rotten = false") == ["Fresh"]
    assert svc.client.get(f"/v1/deals/{old['id']}", headers=svc.headers("a")).get_json()["rotten"] is True
    # a longer rotten_days re-computes rots_at of the stage's open deals in bulk
    stages = [{"id": s["id"]} for s in p["stages"]]
    stages[0]["rotten_days"] = 10
    patch(svc, f"/v1/pipelines/{p['id']}", stages=stages)
    assert names(svc, "filter=rotten = true") == []
    later = svc.client.get(f"/v1/deals/{old['id']}", headers=svc.headers("a")).get_json()
    # (SQLite's date arithmetic keeps milliseconds)
    assert abs(dt.datetime.fromisoformat(later["rots_at"]) - (week_ago + dt.timedelta(days=10))) < dt.timedelta(milliseconds=1)
    won = patch(svc, f"/v1/deals/{old['id']}", status="won")
    assert won["rots_at"] is None and won["rotten"] is False
    # read-only fields are refused as unknown
    resp = svc.client.patch(f"/v1/deals/{fresh['id']}", json={"next_activity_at": "2027-01-01T00:00:00Z"},
                            headers=svc.headers("a"))
    assert resp.status_code == 422 and "next_activity_at" in resp.get_json()["errors"]


def test_filter_sort_and_search(both_databases: ServiceHarness) -> None:
    svc = both_databases
    p = make_pipeline(svc)
    owner = "01a2025e-d30d-7000-b597-2cc15812bf99"
    make_deal(svc, name="Acme renewal", pipeline_id=p["id"], expected_close_date="2026-12-15", owner_id=owner,
              amount={"amount": "20000", "currency": "EUR"})
    make_deal(svc, name="Acme upsell", pipeline_id=p["id"], expected_close_date="2027-03-01",
              amount={"amount": "50000", "currency": "EUR"})
    make_deal(svc, name="Globex", pipeline_id=p["id"], expected_close_date="2026-11-01", amount={"amount": "5", "currency": "EUR"})
    make_deal(svc, name="Won one", pipeline_id=p["id"], status="won", expected_close_date="2026-10-01")
    q = "status = 'open' and expected_close_date <= '2026-12-31' and amount_in_base >= 10000"
    assert names(svc, f"filter={q}") == ["Acme renewal"]
    assert names(svc, f"filter=owner_id = '{owner}'") == ["Acme renewal"]
    assert names(svc, "filter=forecast_category = 'closed'") == ["Won one"]
    assert names(svc, "sort=-amount_in_base&filter=amount_in_base is not null") == ["Acme upsell", "Acme renewal", "Globex"]
    assert names(svc, "q=acme&sort=name") == ["Acme renewal", "Acme upsell"]
    assert names(svc, "q=acme upsell") == ["Acme upsell"]
    assert names(svc, "status=open&filter=name starts_with 'G'") == ["Globex"]  # the old parameters still apply
    for query in ("filter=nope = 1", "filter=status = 'maybe'", "filter=amount >= 'x'", "sort=rotten", "filter=status ="):
        resp = svc.client.get(f"/v1/deals?{query}", headers=svc.headers("a"))
        assert resp.status_code == 400, query


def test_custom_fields(both_databases: ServiceHarness) -> None:
    svc = both_databases
    p = make_pipeline(svc)
    c, h = svc.client, svc.headers("a")
    for body in ({"key": "segment", "label": "Segment", "type": "enum", "options": ["smb", "enterprise"]},
                 {"key": "seats", "label": "Seats", "type": "number"},
                 {"key": "renewal_on", "label": "Renewal", "type": "date"},
                 {"key": "budget", "label": "Budget", "type": "money"}):
        assert c.post("/v1/properties/deals", json=body, headers=h).status_code == 201
    assert c.post("/v1/properties/deals", json={"key": "seats", "label": "S", "type": "text"}, headers=h).status_code == 409
    assert invalid_fields(svc, "POST", "/v1/properties/deals", {"key": "amount", "label": "A", "type": "text"}) == {"key"}
    assert invalid_fields(svc, "POST", "/v1/properties/deals", {"key": "x", "label": "X", "type": "enum"}) == {"options"}
    big = make_deal(svc, name="Big", pipeline_id=p["id"], properties={
        "segment": "enterprise", "seats": 500, "renewal_on": "2027-06-30", "budget": {"amount": "9000", "currency": "EUR"}})
    assert big["properties"]["budget"] == {"amount": "9000.00", "currency": "EUR"}
    make_deal(svc, name="Small", pipeline_id=p["id"], properties={"segment": "smb", "seats": 3})
    make_deal(svc, name="None", pipeline_id=p["id"])
    assert names(svc, "filter=segment = 'enterprise'") == ["Big"]
    assert names(svc, "filter=seats > 10 or renewal_on < '2026-01-01'") == ["Big"]
    assert names(svc, "filter=budget >= 1000") == ["Big"]
    assert names(svc, "filter=segment != 'smb'&sort=name") == ["Big", "None"]  # a missing value matches !=
    assert names(svc, "sort=-seats&filter=seats is not null") == ["Big", "Small"]
    path = "/v1/deals"
    assert invalid_fields(svc, "POST", path, {"name": "D", "pipeline_id": p["id"], "properties": {"seats": "many"}}) == {
        "properties.seats"}
    assert invalid_fields(svc, "POST", path, {"name": "D", "pipeline_id": p["id"], "properties": {"colour": "red"}}) == {
        "properties.colour"}
    assert invalid_fields(svc, "POST", path, {"name": "D", "pipeline_id": p["id"], "properties": {"segment": "huge"}}) == {
        "properties.segment"}
    # archiving hides the values (kept), restoring shows them again; a required field is required
    assert c.delete("/v1/properties/deals/seats", headers=h).status_code == 204
    assert "seats" not in c.get(f"/v1/deals/{big['id']}", headers=h).get_json()["properties"]
    assert c.get("/v1/deals?filter=seats > 1", headers=h).status_code == 400
    assert patch(svc, "/v1/properties/deals/seats", archived=False)["archived"] is False
    assert c.get(f"/v1/deals/{big['id']}", headers=h).get_json()["properties"]["seats"] == 500
    patch(svc, "/v1/properties/deals/segment", required=True)
    assert invalid_fields(svc, "POST", path, {"name": "D", "pipeline_id": p["id"]}) == {"properties.segment"}
    listed = c.get("/v1/properties/deals", headers=h).get_json()["data"]
    assert [d["key"] for d in listed] == ["segment", "seats", "renewal_on", "budget"] and listed[0]["object"] == "deal"
    no_admin = svc.headers("a", roles=("member",))
    assert c.post("/v1/properties/deals", json={"key": "y", "label": "Y", "type": "text"}, headers=no_admin).status_code == 403


def test_history_logs_field_changes(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    c, h = svc.client, svc.headers("a")
    p = make_pipeline(svc)
    owner, other_user = "01a2025e-d30d-7000-b597-2cc15812bf99", uuid.uuid4()
    deal = make_deal(svc, pipeline_id=p["id"], amount={"amount": "10", "currency": "EUR"})
    patch(svc, f"/v1/deals/{deal['id']}", owner_id=owner, expected_close_date="2027-02-01")
    patch(svc, f"/v1/deals/{deal['id']}", name="Renamed", owner_id=owner)  # neither is a logged change
    resp = c.patch(f"/v1/deals/{deal['id']}", json={"probability": 55, "owner_id": None},
                   headers=svc.headers("a", user_id=other_user))
    assert resp.status_code == 200
    rows = c.get(f"/v1/deals/{deal['id']}/history", headers=h).get_json()["data"]
    assert [(r["field"], r["old_value"], r["new_value"]) for r in rows] == [
        ("probability", 10, 55), ("owner_id", owner, None), ("owner_id", None, owner),
        ("expected_close_date", None, "2027-02-01"), ("stage_id", None, deal["stage_id"])]
    assert rows[0]["changed_by"] == str(other_user) and rows[0]["entered_at"] is None and rows[0]["duration_seconds"] is None
    only = c.get(f"/v1/deals/{deal['id']}/history?field=owner_id,probability&limit=2", headers=h).get_json()
    assert [r["field"] for r in only["data"]] == ["probability", "owner_id"] and only["next_cursor"]
    rest = c.get(f"/v1/deals/{deal['id']}/history?field=owner_id,probability&cursor={only['next_cursor']}", headers=h).get_json()
    assert [(r["field"], r["new_value"]) for r in rest["data"]] == [("owner_id", owner)] and rest["next_cursor"] is None
    changed = [e["data"]["change"]["field"] for e in outbox_events(svc, "crm.deal.changed")]
    assert changed == ["expected_close_date", "owner_id", "owner_id", "probability"]
