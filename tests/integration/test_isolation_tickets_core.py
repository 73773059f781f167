"""Tenant isolation of the ticket core on PostgreSQL with RLS: tickets, numbers, the filter
language, custom fields and settings of tenant A are invisible to tenant B."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from crm_testing.platform import Platform

pytestmark = pytest.mark.integration


def _ok(resp: Any, status: int = 200) -> Any:
    assert resp.status == status, resp.data[:500]
    return resp.json() if resp.data else None


def test_ticket_core_is_tenant_isolated(pg_platform: Platform) -> None:
    p = pg_platform
    ta, tb = p.signup("Tickets A")["access_token"], p.signup("Tickets B")["access_token"]
    _ok(p.request("POST", "/v1/properties/tickets", {"key": "product", "label": "Product", "type": "text"}, token=ta), 201)
    _ok(p.request("PATCH", "/v1/settings/tickets", {"statuses": [{"key": "vendor", "label": "Vendor", "base": "on_hold"}],
                                                    "auto_close_days": 2, "portal_company_tickets": True}, token=ta))
    rec = _ok(p.request("POST", "/v1/tickets", {"subject": "Secret printer", "priority": "urgent", "tags": ["vip"],
                                                "requester_email": "secret@a.example", "properties": {"product": "x"},
                                                "custom_status": "vendor"}, token=ta), 201)
    assert rec["number"] == 1001 and rec["status"] == "on_hold"
    for query in ("", "?filter=" + quote("priority = 'urgent'"), "?filter=" + quote("tags contains 'vip'"), "?q=secret",
                  "?q=1001", "?status=on_hold", "?filter=" + quote("requester_email = 'secret@a.example'")):
        assert _ok(p.request("GET", f"/v1/tickets{query}", token=tb))["data"] == [], query
    assert p.request("GET", "/v1/tickets?filter=" + quote("product = 'x'"), token=tb).status == 400
    assert p.request("GET", "/v1/tickets/by-number/1001", token=tb).status == 404
    assert p.request("GET", f"/v1/tickets/{rec['id']}", token=tb).status == 404
    assert p.request("PATCH", f"/v1/tickets/{rec['id']}", {"subject": "X"}, token=tb).status == 404
    assert p.request("DELETE", f"/v1/tickets/{rec['id']}", token=tb).status == 404
    assert _ok(p.request("GET", "/v1/properties/tickets", token=tb))["data"] == []
    assert p.request("GET", "/v1/properties/tickets/product", token=tb).status == 404
    assert p.request("PATCH", "/v1/properties/tickets/product", {"label": "B"}, token=tb).status == 404
    assert p.request("DELETE", "/v1/properties/tickets/product", token=tb).status == 404
    assert _ok(p.request("GET", "/v1/settings/tickets", token=tb)) == {"statuses": [], "auto_close_days": 7,
                                                                      "portal_company_tickets": False,
                                                                      "next_number": 1001}
    assert p.request("POST", "/v1/tickets", {"subject": "x", "custom_status": "vendor"}, token=tb).status == 422
    mine = _ok(p.request("POST", "/v1/tickets", {"subject": "Mine"}, token=tb), 201)
    assert mine["number"] == 1001
    got = _ok(p.request("GET", f"/v1/tickets/{rec['id']}", token=ta))
    assert (got["subject"], got["properties"], got["custom_status"]) == ("Secret printer", {"product": "x"}, "vendor")
    assert _ok(p.request("GET", "/v1/tickets/by-number/1001", token=ta))["id"] == rec["id"]
