"""On PostgreSQL (app role, RLS on): tenant B can neither read, list, filter, change nor infer
tenant A's products, line items, exchange rates, settings, deal custom fields, deal contacts and
deal history. Also runs migration 0004 on PostgreSQL."""

from __future__ import annotations

from pipeline_helpers import invalid_fields, make_deal, make_pipeline, patch, post

from crm_testing.apps import ServiceHarness

CONTACT = "01a2025e-d30d-7000-b597-2cc15812bf3f"


def _hidden(svc: ServiceHarness, base: str, record_id: str, change: dict) -> None:
    c, hb = svc.client, svc.headers("b")
    assert c.get(f"{base}/{record_id}", headers=hb).status_code == 404
    assert c.patch(f"{base}/{record_id}", json=change, headers=hb).status_code == 404
    assert c.delete(f"{base}/{record_id}", headers=hb).status_code == 404


def _ids(svc: ServiceHarness, path: str, tenant: str = "b") -> set[str]:
    resp = svc.client.get(path, headers=svc.headers(tenant))
    assert resp.status_code == 200, (path, resp.get_json())
    return {r["id"] for r in resp.get_json()["data"]}


def test_sales_records_are_isolated(pg_pipeline: ServiceHarness) -> None:
    svc = pg_pipeline
    c, ha, hb = svc.client, svc.headers("a"), svc.headers("b")
    pa = make_pipeline(svc, "a", is_default=True)
    # A's sales records
    product = post(svc, "/v1/products", "a", name="Secret plan", sku="SKU-1", unit_price={"amount": "10", "currency": "EUR"})
    assert c.post("/v1/properties/deals", json={"key": "codename", "label": "Codename", "type": "text"}, headers=ha).status_code == 201
    patch(svc, "/v1/settings/pipeline", "a", lost_reasons=["A only"], base_currency="USD", follow_up_days=7)
    rate = post(svc, "/v1/exchange-rates", "a", currency="GBP", rate="1.25")
    deal = make_deal(svc, "a", pipeline_id=pa["id"], contacts=[{"contact_id": CONTACT, "role": "champion"}],
                     properties={"codename": "falcon"}, amount={"amount": "1000", "currency": "EUR"},
                     owner_id="01a2025e-d30d-7000-b597-2cc15812bf99")
    item = post(svc, f"/v1/deals/{deal['id']}/line-items", "a", product_id=product["id"], quantity="2")
    patch(svc, f"/v1/deals/{deal['id']}", "a", expected_close_date="2027-01-31")
    pb = make_pipeline(svc, "b", is_default=True)
    deal_b = make_deal(svc, "b", pipeline_id=pb["id"])

    # read / change / delete by id: 404
    _hidden(svc, "/v1/products", product["id"], {"name": "stolen"})
    _hidden(svc, "/v1/exchange-rates", rate["id"], {"rate": "9"})
    _hidden(svc, f"/v1/deals/{deal['id']}/line-items", item["id"], {"quantity": "9"})
    # A's line item under B's own deal: not found either
    _hidden(svc, f"/v1/deals/{deal_b['id']}/line-items", item["id"], {"quantity": "9"})
    assert c.get(f"/v1/deals/{deal['id']}/line-items", headers=hb).status_code == 404
    assert c.post(f"/v1/deals/{deal['id']}/line-items", json={"name": "X", "unit_price": {"amount": "1", "currency": "EUR"}},
                  headers=hb).status_code == 404
    assert c.get(f"/v1/deals/{deal['id']}/history", headers=hb).status_code == 404
    assert c.get(f"/v1/deals/{deal['id']}/history?field=amount", headers=hb).status_code == 404
    assert c.get("/v1/properties/deals/codename", headers=hb).status_code == 404
    assert c.patch("/v1/properties/deals/codename", json={"label": "x"}, headers=hb).status_code == 404
    assert c.delete(f"/v1/pipelines/{pa['id']}/stages/{pa['stages'][0]['id']}", headers=hb).status_code == 404

    # lists never show A's rows
    assert _ids(svc, "/v1/products?limit=200") == set()
    assert _ids(svc, "/v1/exchange-rates?limit=200") == set()
    assert c.get("/v1/properties/deals", headers=hb).get_json()["data"] == []
    assert _ids(svc, f"/v1/deals/{deal_b['id']}/line-items") == set()
    assert [r["to_stage_id"] for r in c.get(f"/v1/deals/{deal_b['id']}/history", headers=hb).get_json()["data"]] == [
        deal_b["stage_id"]]
    # B's settings are its own defaults
    settings_b = c.get("/v1/settings/pipeline", headers=hb).get_json()
    assert settings_b["version"] == 0 and "A only" not in settings_b["lost_reasons"] and settings_b["base_currency"] == "EUR"

    # filters cannot match A's rows, by its ids, values or custom fields
    for query in (f"filter=contact_id = '{CONTACT}'", "filter=owner_id = '01a2025e-d30d-7000-b597-2cc15812bf99'",
                  "filter=amount_in_base >= 1", "filter=has_line_items = true", f"filter=id = '{deal['id']}'",
                  "q=deal", "filter=expected_close_date = '2027-01-31'"):
        assert deal["id"] not in _ids(svc, f"/v1/deals?{query}"), query
    assert c.get("/v1/deals?filter=codename = 'falcon'", headers=hb).status_code == 400  # B has no such field
    assert _ids(svc, "/v1/products?filter=sku = 'SKU-1'") == set() and _ids(svc, "/v1/products?q=secret") == set()

    # B cannot use A's product, nor is A's SKU or currency "taken" in B
    assert invalid_fields(svc, "POST", f"/v1/deals/{deal_b['id']}/line-items", {"product_id": product["id"]}, "b") == {"product_id"}
    post(svc, "/v1/products", "b", name="Own", sku="SKU-1", unit_price={"amount": "1", "currency": "EUR"})
    own_rate = post(svc, "/v1/exchange-rates", "b", currency="USD", rate="2")
    assert c.post("/v1/properties/deals", json={"key": "codename", "label": "Mine", "type": "number"}, headers=hb).status_code == 201
    # B's lost reasons are the defaults, not A's
    assert invalid_fields(svc, "PATCH", f"/v1/deals/{deal_b['id']}", {"status": "lost", "lost_reason": "A only"}, "b") == {
        "lost_reason"}
    # B's rate change re-converts B's deals only
    patch(svc, f"/v1/exchange-rates/{own_rate['id']}", "b", rate="3")

    # A's records are untouched
    got = c.get(f"/v1/deals/{deal['id']}", headers=ha).get_json()
    assert got["amount"] == {"amount": "20.00", "currency": "EUR"} and got["has_line_items"] is True
    assert got["amount_in_base"] is None  # A's base is USD and it has no EUR rate
    assert got["properties"] == {"codename": "falcon"} and got["contacts"] == [{"contact_id": CONTACT, "role": "champion"}]
    assert c.get(f"/v1/products/{product['id']}", headers=ha).get_json() == product
    assert c.get(f"/v1/exchange-rates/{rate['id']}", headers=ha).get_json() == rate
    assert c.get("/v1/settings/pipeline", headers=ha).get_json()["lost_reasons"] == ["A only"]
    assert [d["label"] for d in c.get("/v1/properties/deals", headers=ha).get_json()["data"]] == ["Codename"]
    fields = [r["field"] for r in c.get(f"/v1/deals/{deal['id']}/history", headers=ha).get_json()["data"]]
    assert fields == ["expected_close_date", "amount", "stage_id"]
    assert c.get("/v1/deals?filter=codename = 'falcon'", headers=ha).get_json()["data"][0]["id"] == deal["id"]
