"""Tampered cursor decimals and unstorable money are a 4xx, never a 500 (issue 7), on both engines."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from pipeline_helpers import make_deal

from crm_testing.apps import ServiceHarness


@pytest.fixture(params=["sqlite", "postgresql"])
def svc(request: pytest.FixtureRequest) -> ServiceHarness:
    return request.getfixturevalue("pipeline_service" if request.param == "sqlite" else "pg_pipeline")


def _decode(cursor: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))


def _encode(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize("value", [{"t": "dec", "v": "sNaN"}, {"t": "dec", "v": "NaN"}, {"t": "dec", "v": "-Infinity"},
                                   {"t": "dec", "v": "1E+999999"}, {"t": "dec", "v": "1E-999999"}, {"t": "dec", "v": 5},
                                   10**400, "12.50"],
                         ids=["sNaN", "NaN", "-Infinity", "1E+999999", "1E-999999", "not-a-string", "int-400-digits", "plain-string"])
def test_tampered_decimal_cursor_is_400(svc: ServiceHarness, value: Any) -> None:
    for amount in ("10.00", "20.00"):
        make_deal(svc, amount={"amount": amount, "currency": "EUR"})
    page = svc.client.get("/v1/deals?sort=amount&limit=1", headers=svc.headers("a")).get_json()
    payload = _decode(page["next_cursor"])
    assert payload["v"][0] == {"t": "dec", "v": "10.00"}
    payload["v"][0] = value
    resp = svc.client.get(f"/v1/deals?sort=amount&limit=1&cursor={_encode(payload)}", headers=svc.headers("a"))
    assert resp.status_code == 400, resp.get_json()
    assert list(resp.get_json()["errors"]) == ["cursor"]


@pytest.mark.parametrize("amount", ["1E+999999", "sNaN", "NaN", "Infinity", "1e16", "12.5\u0000", 1e308, "0x10"])
def test_money_that_no_column_holds_is_422(svc: ServiceHarness, amount: Any) -> None:
    resp = svc.client.post("/v1/deals", json={"name": "D", "amount": {"amount": amount, "currency": "EUR"}},
                           headers=svc.headers("a"))
    assert resp.status_code == 422, resp.get_json()
    assert list(resp.get_json()["errors"]) == ["amount.amount"]
