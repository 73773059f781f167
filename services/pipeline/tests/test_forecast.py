"""GET /v1/forecast and /v1/sales-targets: figures per period and group, quota, validation, isolation.

Deals are made through the API (amount, close date, stage); amount_in_base, forecast_category and
won_at are set by a direct SQL update (sales_helpers.set_deal), since the API cannot set them yet.
"""

from __future__ import annotations

import datetime as dt
import uuid

from pipeline_helpers import make_deal, make_pipeline, patch, post, stage
from sales_helpers import get, set_deal

from crm_testing.apps import ServiceHarness

OWNER_1, OWNER_2 = str(uuid.uuid4()), str(uuid.uuid4())
STAGES = [{"name": "Lead", "probability": 10}, {"name": "Demo", "probability": 40},
          {"name": "Won", "probability": 100, "kind": "won"}, {"name": "Lost", "probability": 0, "kind": "lost"}]


def _deal(svc: ServiceHarness, p: dict, name: str, stage_name: str, close: str, base: str, category: str | None,
          owner: str, tenant: str = "a", won_at: dt.datetime | None = None) -> dict:
    lost = {"lost_reason": "Price"} if stage_name == "Lost" else {}
    deal = make_deal(svc, tenant, name=name, pipeline_id=p["id"], stage_id=stage(p, stage_name)["id"], owner_id=owner, **lost,
                     amount={"amount": base, "currency": "EUR"}, expected_close_date=close)
    values: dict = {"amount_in_base": base}
    if category:
        values["forecast_category"] = category
    if won_at:
        values["won_at"] = won_at
    set_deal(svc, deal["id"], tenant, **values)
    return deal


def _seed(svc: ServiceHarness, tenant: str = "a") -> dict:
    p = make_pipeline(svc, tenant, stages=STAGES)
    _deal(svc, p, "commit", "Demo", "2026-12-10", "1000.00", "commit", OWNER_1, tenant)
    _deal(svc, p, "best", "Demo", "2026-12-20", "500.00", "best_case", OWNER_2, tenant)
    _deal(svc, p, "pipe", "Lead", "2026-12-31", "300.00", "pipeline", OWNER_1, tenant)
    _deal(svc, p, "omit", "Lead", "2026-12-05", "9999.00", "omitted", OWNER_1, tenant)
    _deal(svc, p, "january", "Lead", "2027-01-03", "200.00", "pipeline", OWNER_2, tenant)
    # won in December although it was expected in November; one won before the range
    _deal(svc, p, "won", "Won", "2026-11-20", "700.00", "closed", OWNER_1, tenant,
          won_at=dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC))
    _deal(svc, p, "won early", "Won", "2026-11-20", "50.00", "closed", OWNER_1, tenant,
          won_at=dt.datetime(2026, 11, 30, 23, 59, tzinfo=dt.UTC))
    _deal(svc, p, "lost", "Lost", "2026-12-15", "400.00", "closed", OWNER_2, tenant)
    _deal(svc, p, "later", "Lead", "2027-06-01", "800.00", "commit", OWNER_2, tenant)
    return p


def test_forecast_figures(any_pipeline: ServiceHarness) -> None:
    svc = any_pipeline
    p = _seed(svc)
    post(svc, "/v1/sales-targets", owner_id=OWNER_1, period="month", period_start="2026-12", amount="1400")
    post(svc, "/v1/sales-targets", owner_id=OWNER_1, period="month", period_start="2027-01", amount="100")
    post(svc, "/v1/sales-targets", owner_id=OWNER_2, period="quarter", period_start="2026-Q4", amount="5000")

    body = get(svc, "/v1/forecast", period="month", **{"from": "2026-12", "to": "2027-01"})
    assert (body["period"], body["from"], body["to"], body["group_by"]) == ("month", "2026-12", "2027-01", None)
    december, january = body["periods"]
    assert (december["period"], december["start"], december["end"]) == ("2026-12", "2026-12-01", "2026-12-31")
    assert {k: december[k] for k in ("won", "commit", "best_case", "pipeline", "weighted", "omitted", "won_count",
                                      "open_count", "quota", "attainment", "groups")} == {
        "won": "700.00", "commit": "1700.00", "best_case": "2200.00", "pipeline": "1800.00",
        "weighted": "630.00",  # 1000×40% + 500×40% + 300×10%
        "omitted": "9999.00", "won_count": 1, "open_count": 3, "quota": "1400.00", "attainment": 0.5, "groups": []}
    assert (january["pipeline"], january["weighted"], january["won"], january["quota"]) == ("200.00", "20.00", "0.00", "100.00")

    owners = get(svc, "/v1/forecast", group_by="owner", **{"from": "2026-12", "to": "2026-12"})["periods"][0]["groups"]
    by_owner = {g["owner_id"]: g for g in owners}
    assert set(by_owner) == {OWNER_1, OWNER_2}
    assert (by_owner[OWNER_1]["won"], by_owner[OWNER_1]["commit"], by_owner[OWNER_1]["quota"],
            by_owner[OWNER_1]["attainment"]) == ("700.00", "1700.00", "1400.00", 0.5)
    assert (by_owner[OWNER_2]["best_case"], by_owner[OWNER_2]["quota"], by_owner[OWNER_2]["attainment"]) == (
        "500.00", None, None)  # a quarterly target says nothing about a month

    [group] = get(svc, "/v1/forecast", group_by="pipeline", **{"from": "2026-12", "to": "2026-12"})["periods"][0]["groups"]
    assert (group["pipeline_id"], group["pipeline"], group["quota"]) == (p["id"], "1800.00", None)

    quarters = get(svc, "/v1/forecast", period="quarter", group_by="owner", **{"from": "2026-Q4", "to": "2027-Q1"})
    q4, q1 = quarters["periods"]
    assert (q4["period"], q4["start"], q4["end"], q4["won"]) == ("2026-Q4", "2026-10-01", "2026-12-31", "750.00")
    q4_owners = {g["owner_id"]: g for g in q4["groups"]}
    assert q4_owners[OWNER_2]["quota"] == "5000.00"
    assert q4_owners[OWNER_1]["quota"] == "1400.00"  # no quarterly target: the sum of the monthly ones
    assert q1["quota"] == "100.00" and q1["pipeline"] == "200.00"

    filtered = get(svc, "/v1/forecast", filter=f"owner_id = '{OWNER_2}'", **{"from": "2026-12", "to": "2026-12"})
    assert (filtered["periods"][0]["pipeline"], filtered["periods"][0]["won"]) == ("500.00", "0.00")


def test_forecast_validation(any_pipeline: ServiceHarness) -> None:
    svc = any_pipeline
    for params, field in (({"period": "week"}, "period"), ({"from": "2026-13"}, "from"), ({"from": "Dec"}, "from"),
                          ({"period": "quarter", "from": "2026-12"}, "from"), ({"to": "2026-Q1"}, "to"),
                          ({"from": "2026-12", "to": "2026-11"}, "to"), ({"from": "2026-01", "to": "2028-01"}, "to"),
                          ({"group_by": "team"}, "group_by"), ({"filter": "stage = 1"}, "filter")):
        problem = get(svc, "/v1/forecast", status=400, **params)
        assert field in problem["errors"], params
        if field != "group_by" and field != "filter":
            assert field in get(svc, "/v1/forecast/accuracy", status=400, **params)["errors"]
    assert len(get(svc, "/v1/forecast", **{"from": "2026-01", "to": "2027-12"})["periods"]) == 24
    assert len(get(svc, "/v1/forecast", period="quarter")["periods"]) == 4  # default: this quarter and three more


def test_sales_targets_crud(any_pipeline: ServiceHarness) -> None:
    svc = any_pipeline
    c, h = svc.client, svc.headers("a")
    target = post(svc, "/v1/sales-targets", owner_id=OWNER_1, period="quarter", period_start="2027-Q1", amount="250000")
    assert (target["period"], target["period_start"], target["amount"], target["version"]) == ("quarter", "2027-Q1", "250000.00", 1)
    clash = c.post("/v1/sales-targets", json={"owner_id": OWNER_1, "period": "quarter", "period_start": "2027-Q1",
                                              "amount": "1"}, headers=h)
    assert clash.status_code == 409 and clash.get_json()["existing_id"] == target["id"]
    for body, fields in (({"owner_id": OWNER_1, "period": "month", "period_start": "2027-Q1", "amount": "1"}, {"period_start"}),
                         ({"owner_id": "x", "period": "year", "period_start": "2027", "amount": "-1"},
                          {"owner_id", "period", "amount"}),
                         ({}, {"owner_id", "period", "period_start", "amount"})):
        resp = c.post("/v1/sales-targets", json=body, headers=h)
        assert resp.status_code == 422 and set(resp.get_json()["errors"]) == fields, resp.get_json()
    monthly = post(svc, "/v1/sales-targets", owner_id=OWNER_2, period="month", period_start="2027-02", amount="10.5")
    assert monthly["amount"] == "10.50"
    moved = patch(svc, f"/v1/sales-targets/{monthly['id']}", period_start="2027-03", amount="20")
    assert (moved["period_start"], moved["amount"], moved["version"]) == ("2027-03", "20.00", 2)
    resp = c.patch(f"/v1/sales-targets/{monthly['id']}", json={"period": "quarter"}, headers=h)
    assert resp.status_code == 422 and "period_start" in resp.get_json()["errors"]  # March starts no quarter
    resp = c.patch(f"/v1/sales-targets/{monthly['id']}", json={"period_start": "2027-Q1"}, headers=h)
    assert resp.status_code == 422 and "period_start" in resp.get_json()["errors"]
    assert patch(svc, f"/v1/sales-targets/{monthly['id']}", period="quarter", period_start="2027-Q2")["period_start"] == "2027-Q2"
    assert [t["id"] for t in get(svc, "/v1/sales-targets", owner_id=OWNER_1)["data"]] == [target["id"]]
    assert len(get(svc, "/v1/sales-targets", period="quarter")["data"]) == 2
    assert c.delete(f"/v1/sales-targets/{target['id']}", headers=h).status_code == 204
    assert c.get(f"/v1/sales-targets/{target['id']}", headers=h).status_code == 404


def test_forecast_and_targets_isolation(pg_pipeline: ServiceHarness) -> None:
    """B's forecast never counts A's deals or quotas; A's targets are invisible and untouchable for B."""
    svc = pg_pipeline
    _seed(svc, "a")
    target = post(svc, "/v1/sales-targets", owner_id=OWNER_1, period="month", period_start="2026-12", amount="1400")
    c, hb = svc.client, svc.headers("b")
    december = {"from": "2026-12", "to": "2026-12"}
    for params in ({}, {"group_by": "owner"}, {"group_by": "pipeline"}, {"filter": f"owner_id = '{OWNER_1}'"}):
        period = get(svc, "/v1/forecast", "b", **december, **params)["periods"][0]
        assert (period["won"], period["pipeline"], period["open_count"], period["quota"], period["groups"]) == (
            "0.00", "0.00", 0, None, []), params
    assert c.get(f"/v1/sales-targets/{target['id']}", headers=hb).status_code == 404
    assert c.patch(f"/v1/sales-targets/{target['id']}", json={"amount": "1"}, headers=hb).status_code == 404
    assert c.delete(f"/v1/sales-targets/{target['id']}", headers=hb).status_code == 404
    assert get(svc, "/v1/sales-targets", "b")["data"] == []
    assert get(svc, "/v1/sales-targets", "b", owner_id=OWNER_1)["data"] == []
    # B may have a target for the same owner and month: uniqueness is per tenant, and reveals nothing
    post(svc, "/v1/sales-targets", "b", owner_id=OWNER_1, period="month", period_start="2026-12", amount="1")
    assert get(svc, "/v1/sales-targets/" + target["id"])["amount"] == "1400.00"
    assert get(svc, "/v1/forecast", **december)["periods"][0]["quota"] == "1400.00"


def test_forecast_totals_follow_every_write(any_pipeline: ServiceHarness) -> None:
    """The unfiltered forecast (on PostgreSQL: the trigger-kept deal_forecast_totals) always equals
    the forecast aggregated from deals (a filter every deal matches), through moves of close date,
    owner, category and amount, wins, losses and deletes."""
    svc = any_pipeline
    _seed(svc)
    shapes = [{"from": "2026-11", "to": "2027-06"}, {"from": "2026-11", "to": "2027-06", "group_by": "owner"},
              {"period": "quarter", "from": "2026-Q4", "to": "2027-Q2", "group_by": "pipeline"}]

    def same() -> None:
        for params in shapes:
            assert get(svc, "/v1/forecast", **params) == get(svc, "/v1/forecast", filter="id is not null", **params), params

    same()
    deals = {d["name"]: d for d in get(svc, "/v1/deals", limit=200)["data"]}
    h = svc.headers("a")
    svc.client.patch(f"/v1/deals/{deals['commit']['id']}", json={"expected_close_date": "2027-02-01"}, headers=h)
    svc.client.patch(f"/v1/deals/{deals['best']['id']}", json={"owner_id": OWNER_1}, headers=h)
    svc.client.patch(f"/v1/deals/{deals['pipe']['id']}", json={"status": "won"}, headers=h)
    set_deal(svc, deals["pipe"]["id"], won_at=dt.datetime(2027, 1, 2, tzinfo=dt.UTC), forecast_category="closed")
    set_deal(svc, deals["january"]["id"], amount_in_base="250.00", forecast_category="commit")
    svc.client.patch(f"/v1/deals/{deals['later']['id']}", json={"status": "lost", "lost_reason": "Timing"}, headers=h)
    assert svc.client.delete(f"/v1/deals/{deals['omit']['id']}", headers=h).status_code == 204
    same()
    december = get(svc, "/v1/forecast", **{"from": "2026-12", "to": "2026-12"})["periods"][0]
    assert (december["pipeline"], december["open_count"], december["omitted"]) == ("500.00", 1, "0.00")
