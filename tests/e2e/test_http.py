"""HTTP conventions of API.md, end to end through the gateway."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_testing.platform import Platform, start_platform


@pytest.fixture(scope="module")
def token(embedded_platform: Platform) -> str:
    return embedded_platform.signup("HTTP Co")["access_token"]


def test_malformed_json_is_400_problem(embedded_platform: Platform, token: str) -> None:
    resp = embedded_platform.http.request("POST", embedded_platform.gateway_url + "/v1/contacts", body=b'{"first_name": ',
                                          headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert resp.status == 400
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert resp.json()["status"] == 400


def test_validation_is_422_with_field_errors(embedded_platform: Platform, token: str) -> None:
    resp = embedded_platform.request("POST", "/v1/deals", {"name": "", "amount": {"amount": "abc", "currency": "euro"}}, token=token)
    assert resp.status == 422
    errors = resp.json()["errors"]
    assert "name" in errors and "amount.amount" in errors and "amount.currency" in errors


def test_stale_if_match_is_412(embedded_platform: Platform, token: str) -> None:
    created = embedded_platform.request("POST", "/v1/tickets", {"subject": "Printer"}, token=token)
    tid, etag = created.json()["id"], created.headers["ETag"]
    ok = embedded_platform.request("PATCH", f"/v1/tickets/{tid}", {"priority": "high"}, token=token, headers={"If-Match": etag})
    assert ok.status == 200 and ok.headers["ETag"] == '"2"'
    stale = embedded_platform.request("PATCH", f"/v1/tickets/{tid}", {"priority": "low"}, token=token, headers={"If-Match": etag})
    assert stale.status == 412 and stale.json()["current"]["priority"] == "high"
    bare = embedded_platform.request("PATCH", f"/v1/tickets/{tid}", {"priority": "low"}, token=token, headers={"If-Match": "2"})
    assert bare.status == 200


def test_idempotency_key_replays_through_the_gateway(embedded_platform: Platform, token: str) -> None:
    headers = {"Idempotency-Key": "order-42"}
    first = embedded_platform.request("POST", "/v1/campaigns", {"name": "Once"}, token=token, headers=headers)
    again = embedded_platform.request("POST", "/v1/campaigns", {"name": "Once"}, token=token, headers=headers)
    assert first.status == again.status == 201
    assert first.json()["id"] == again.json()["id"] and again.headers["Location"] == first.headers["Location"]
    other_body = embedded_platform.request("POST", "/v1/campaigns", {"name": "Twice"}, token=token, headers=headers)
    assert other_body.status == 422


def test_body_over_one_mebibyte_is_413(embedded_platform: Platform, token: str) -> None:
    big = json.dumps({"first_name": "x" * (1024 * 1024 + 10)}).encode()
    resp = embedded_platform.http.request("POST", embedded_platform.gateway_url + "/v1/contacts", body=big,
                                          headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert resp.status == 413 and resp.headers["Content-Type"] == "application/problem+json"


def test_unknown_paths_and_methods(embedded_platform: Platform, token: str) -> None:
    assert embedded_platform.request("GET", "/v1/nothing-here", token=token).status == 404
    assert embedded_platform.request("GET", "/v1/contacts/not-a-uuid", token=token).status == 404
    assert embedded_platform.request("PUT", "/v1/contacts", {"x": 1}, token=token).status == 405


def test_request_id_is_echoed_and_carried_into_events(embedded_platform: Platform, token: str) -> None:
    resp = embedded_platform.request("POST", "/v1/contacts", {"first_name": "Traced"}, token=token,
                                     headers={"X-Request-Id": "trace-abc-123"})
    assert resp.headers["X-Request-Id"] == "trace-abc-123"
    generated = embedded_platform.request("GET", "/v1/contacts", token=token)
    assert len(generated.headers["X-Request-Id"]) >= 16
    log = Path(embedded_platform.var_dir) / "events.db"
    from crm_testing.platform import wait_for

    def event_with_request_id() -> bool:
        with sqlite3.connect(log) as conn:
            rows = conn.execute("select value from records where topic = 'crm.contacts.contact'").fetchall()
        return any(json.loads(r[0]).get("request_id") == "trace-abc-123" for r in rows)

    wait_for(event_with_request_id, what="event carrying the request id")


def test_rate_limit_headers_on_every_answer(embedded_platform: Platform, token: str) -> None:
    resp = embedded_platform.request("GET", "/v1/contacts", token=token)
    for header in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
        assert header in resp.headers


@pytest.fixture(scope="module")
def tight_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    platform = start_platform(tmp_path_factory.mktemp("tight"), only={"contacts"},
                              CRM_RATE_LIMIT_TENANT_RATE="0.5", CRM_RATE_LIMIT_TENANT_BURST="5",
                              CRM_RATE_LIMIT_ANONYMOUS_RATE="0.5", CRM_RATE_LIMIT_ANONYMOUS_BURST="20")
    yield platform
    platform.close()


def test_tenant_over_the_limit_gets_429_with_retry_after(tight_platform: Platform) -> None:
    a, b = tight_platform.signup("A")["access_token"], tight_platform.signup("B")["access_token"]
    answers = [tight_platform.request("GET", "/v1/contacts", token=a) for _ in range(7)]
    statuses = [r.status for r in answers]
    assert statuses[:5] == [200] * 5 and statuses[5] == 429
    refused = answers[5]
    assert int(refused.headers["Retry-After"]) >= 1 and refused.headers["RateLimit-Remaining"] == "0"
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert [int(r.headers["RateLimit-Remaining"]) for r in answers[:5]] == [4, 3, 2, 1, 0]
    # another tenant has its own bucket
    assert tight_platform.request("GET", "/v1/contacts", token=b).status == 200
