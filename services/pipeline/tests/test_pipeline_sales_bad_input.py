"""Malformed input on the sales endpoints is a 4xx problem naming what is wrong, never a 500."""

from __future__ import annotations

from pipeline_helpers import make_deal, make_pipeline, post

from crm_testing.apps import ServiceHarness


def test_bad_input_is_4xx(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    c, h = svc.client, svc.headers("a")
    p = make_pipeline(svc)
    deal = make_deal(svc, pipeline_id=p["id"])
    product = post(svc, "/v1/products", name="P", unit_price={"amount": "1", "currency": "EUR"})
    d, stage_id = f"/v1/deals/{deal['id']}", p["stages"][0]["id"]
    cases = [
        ("PATCH", d, {"contacts": None}), ("PATCH", d, {"contacts": [{"role": "user"}]}), ("PATCH", d, {"properties": None}),
        ("PATCH", d, {"properties": {"": 1}}), ("PATCH", d, {"position": "far"}), ("PATCH", d, {"before_id": "x"}),
        ("PATCH", d, {"after_id": "01a2025e-d30d-7000-b597-2cc15812bf3f"}), ("PATCH", d, {"probability": 1.5}),
        ("PATCH", d, {"lost_reason": ""}), ("PATCH", d, {"forecast_category": 3}), ("PATCH", d, []),
        ("GET", "/v1/deals?filter=rotten = 'soon'", None), ("GET", "/v1/deals?filter=(((", None),
        ("GET", "/v1/deals?filter=amount_in_base contains 'x'", None), ("GET", "/v1/deals?sort=contacts", None),
        ("GET", f"{d}/history?field=name", None), ("GET", f"{d}/history?limit=0", None),
        ("POST", f"{d}/line-items", {"quantity": "-1", "name": "x", "unit_price": {"amount": "1", "currency": "EUR"}}),
        ("POST", f"{d}/line-items", {"product_id": "nope"}), ("POST", f"{d}/line-items", "text"),
        ("PATCH", f"{d}/line-items/nope", {"quantity": "1"}), ("GET", "/v1/deals/nope/line-items", None),
        ("PATCH", f"/v1/products/{product['id']}", {"unit_price": None}), ("PATCH", f"/v1/products/{product['id']}", {"sku": ""}),
        ("GET", "/v1/products?filter=price > 1", None), ("GET", "/v1/products?sort=description", None),
        ("POST", "/v1/exchange-rates", {"currency": "usd", "rate": "1"}), ("POST", "/v1/exchange-rates", {"currency": "USD", "rate": "x"}),
        ("POST", "/v1/exchange-rates", {"currency": "USD", "rate": "NaN"}), ("GET", "/v1/exchange-rates?filter=rate > 1", None),
        ("PATCH", "/v1/settings/pipeline", {"lost_reasons": "Price"}), ("PATCH", "/v1/settings/pipeline", {"base_currency": None}),
        ("PATCH", "/v1/settings/pipeline", {"follow_up_days": "7"}),
        ("PATCH", d, {"amount": {"currency": "EUR"}}), ("PATCH", f"/v1/products/{product['id']}", {"unit_price": {"currency": "EUR"}}),
        ("POST", "/v1/properties/deals", {"key": "Bad Key", "label": "x", "type": "text"}),
        ("POST", "/v1/properties/deals", {"key": "rotten", "label": "x", "type": "text"}),
        ("PATCH", "/v1/properties/deals/nope", {"label": "x"}),
        ("PATCH", f"/v1/pipelines/{p['id']}", {"stages": [{"id": stage_id, "rotten_days": "2"}]}),
        ("PATCH", f"/v1/pipelines/{p['id']}", {"stages": [{"id": stage_id}], "move_deals_to": {"x": "y"}}),
        ("DELETE", f"/v1/pipelines/{p['id']}/stages/nope", None),
    ]
    for method, path, body in cases:
        resp = c.open(path, method=method, json=body, headers=h)
        assert 400 <= resp.status_code < 500 and resp.content_type == "application/problem+json", (method, path, body, resp.status_code)
    stale = c.patch("/v1/settings/pipeline", json={"follow_up_days": 5}, headers={**h, "If-Match": "nonsense"})
    assert 400 <= stale.status_code < 500
