"""/v1/products and /v1/deals/{id}/line-items: a deal with line items takes its amount from them."""

from __future__ import annotations

from pipeline_helpers import invalid_fields, make_deal, make_pipeline, outbox_events, patch, post

from crm_testing.apps import ServiceHarness


def test_products_crud_list_and_unique_sku(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    c, h = svc.client, svc.headers("a")
    seat = post(svc, "/v1/products", name="Seat", sku="SEAT-1", unit_price={"amount": "49.9", "currency": "EUR"},
                tax_percent="19")
    assert seat["unit_price"] == {"amount": "49.90", "currency": "EUR"} and seat["tax_percent"] == "19.00"
    assert seat["active"] is True
    post(svc, "/v1/products", name="Onboarding", unit_price={"amount": "1000", "currency": "EUR"})
    post(svc, "/v1/products", name="Old plan", sku="OLD", unit_price={"amount": "5", "currency": "USD"}, active=False)
    dup = c.post("/v1/products", json={"name": "Other", "sku": "SEAT-1", "unit_price": {"amount": "1", "currency": "EUR"}},
                 headers=h)
    assert dup.status_code == 409 and "sku" in dup.get_json()["errors"]

    def names(query: str) -> list[str]:
        resp = c.get(f"/v1/products?{query}", headers=h)
        assert resp.status_code == 200, resp.get_json()
        return [p["name"] for p in resp.get_json()["data"]]

    assert names("") == ["Old plan", "Onboarding", "Seat"]
    assert names("filter=active = true and unit_price >= 100") == ["Onboarding"]
    assert names("q=seat") == ["Seat"] and names("q=old") == ["Old plan"]
    assert names("sort=-unit_price") == ["Onboarding", "Seat", "Old plan"]
    renamed = patch(svc, f"/v1/products/{seat['id']}", name="Seat (annual)", unit_price={"amount": "500", "currency": "EUR"})
    assert renamed["unit_price"]["amount"] == "500.00"
    for body, fields in [({"name": "X"}, {"unit_price"}), ({"name": "", "unit_price": {"amount": "1", "currency": "E"}},
                                                           {"name", "unit_price.currency"}),
                         ({"name": "X", "unit_price": {"amount": "1", "currency": "EUR"}, "tax_percent": "101"}, {"tax_percent"})]:
        assert invalid_fields(svc, "POST", "/v1/products", body) == fields
    assert c.delete(f"/v1/products/{seat['id']}", headers=h).status_code == 204
    assert [e["type"] for e in outbox_events(svc, "crm.product.")] == [
        "crm.product.created", "crm.product.created", "crm.product.created", "crm.product.updated", "crm.product.deleted"]


def test_line_items_set_the_deal_amount(both_databases: ServiceHarness) -> None:
    svc = both_databases
    c, h = svc.client, svc.headers("a")
    p = make_pipeline(svc)
    seat = post(svc, "/v1/products", name="Seat", unit_price={"amount": "100", "currency": "EUR"}, tax_percent="20")
    deal = make_deal(svc, pipeline_id=p["id"], amount={"amount": "5", "currency": "EUR"})
    base = f"/v1/deals/{deal['id']}/line-items"
    first = post(svc, base, product_id=seat["id"], quantity="3", discount_percent="10")
    assert (first["name"], first["unit_price"], first["tax_percent"]) == ("Seat", {"amount": "100.00", "currency": "EUR"}, "20.00")
    assert first["net_amount"] == {"amount": "270.00", "currency": "EUR"}
    assert first["tax_amount"] == {"amount": "54.00", "currency": "EUR"} and first["gross_amount"]["amount"] == "324.00"
    second = post(svc, base, name="Setup", unit_price={"amount": "99.99", "currency": "EUR"})
    assert second["quantity"] == "1.0000" and second["net_amount"]["amount"] == "99.99"
    got = c.get(f"/v1/deals/{deal['id']}", headers=h).get_json()
    assert got["amount"] == {"amount": "369.99", "currency": "EUR"} and got["has_line_items"] is True
    assert got["amount_in_base"] == "369.99"
    assert [i["name"] for i in c.get(base, headers=h).get_json()["data"]] == ["Seat", "Setup"]
    # the amount belongs to the line items now; other currencies are refused
    assert invalid_fields(svc, "PATCH", f"/v1/deals/{deal['id']}", {"amount": {"amount": "1", "currency": "EUR"}}) == {"amount"}
    assert invalid_fields(svc, "POST", base, {"name": "X", "unit_price": {"amount": "1", "currency": "USD"}}) == {
        "unit_price.currency"}
    assert invalid_fields(svc, "POST", base, {"name": "X"}) == {"unit_price"}
    assert invalid_fields(svc, "POST", base, {"product_id": deal["id"]}) == {"product_id"}
    assert invalid_fields(svc, "POST", base, {"name": "X", "unit_price": {"amount": "1", "currency": "EUR"},
                                              "quantity": "0", "discount_percent": "120"}) == {"quantity", "discount_percent"}
    changed = c.patch(f"{base}/{second['id']}", json={"quantity": "2"}, headers={**h, "If-Match": '"1"'})
    assert changed.status_code == 200 and changed.get_json()["net_amount"]["amount"] == "199.98"
    assert c.patch(f"{base}/{second['id']}", json={"quantity": "3"}, headers={**h, "If-Match": '"1"'}).status_code == 412
    assert c.get(f"/v1/deals/{deal['id']}", headers=h).get_json()["amount"]["amount"] == "469.98"
    assert c.delete(f"{base}/{first['id']}", headers=h).status_code == 204
    assert c.delete(f"{base}/{second['id']}", headers=h).status_code == 204
    after = c.get(f"/v1/deals/{deal['id']}", headers=h).get_json()
    assert after["has_line_items"] is False and after["amount"]["amount"] == "199.98"  # kept, manual again
    assert patch(svc, f"/v1/deals/{deal['id']}", amount={"amount": "7", "currency": "USD"})["amount"]["currency"] == "USD"
    # events: the line items', and the deal's amount changes (update + change log)
    types = [e["type"] for e in outbox_events(svc, "crm.line_item.")]
    assert types == ["crm.line_item.created", "crm.line_item.created", "crm.line_item.updated",
                     "crm.line_item.deleted", "crm.line_item.deleted"]
    amounts = [e["data"]["change"]["new_value"] for e in outbox_events(svc, "crm.deal.changed") if e["data"]["change"]["field"] == "amount"]
    assert [a["amount"] for a in amounts] == ["270.00", "369.99", "469.98", "199.98", "7.00"]
    history = c.get(f"/v1/deals/{deal['id']}/history?field=amount", headers=h).get_json()["data"]
    assert [r["new_value"]["amount"] for r in history] == ["7.00", "199.98", "469.98", "369.99", "270.00"]
    assert c.get(f"{base}/{first['id']}", headers=h).status_code == 404
    other = make_deal(svc, pipeline_id=p["id"])
    assert c.get(f"/v1/deals/{other['id']}/line-items/{second['id']}", headers=h).status_code == 404


def test_a_deal_without_amount_takes_the_first_items_currency(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    deal = make_deal(svc, pipeline_id=make_pipeline(svc)["id"])
    post(svc, f"/v1/deals/{deal['id']}/line-items", name="Licence", unit_price={"amount": "10", "currency": "USD"}, quantity="2.5")
    got = svc.client.get(f"/v1/deals/{deal['id']}", headers=svc.headers("a")).get_json()
    assert got["amount"] == {"amount": "25.00", "currency": "USD"} and got["amount_in_base"] is None  # no USD rate
