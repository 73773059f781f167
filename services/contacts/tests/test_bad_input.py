"""Input no store can hold is a 4xx naming the field, never a 500 (issue 7, found by fuzzing).

NUL only fails on PostgreSQL (text and jsonb refuse it), so each case runs on both engines; the
answer is the same on both so data written on SQLite always moves to PostgreSQL.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from crm_testing.apps import ServiceHarness


@pytest.fixture(params=["sqlite", "postgresql"])
def svc(request: pytest.FixtureRequest) -> ServiceHarness:
    return request.getfixturevalue("contacts_service" if request.param == "sqlite" else "pg_contacts")


def _post_json(svc: ServiceHarness, path: str, raw: str) -> Any:
    return svc.client.post(path, data=raw, content_type="application/json", headers=svc.headers("a"))


def _b64(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def _cursor(svc: ServiceHarness, sort: str) -> dict[str, Any]:
    for i in range(2):
        assert svc.client.post("/v1/contacts", json={"email": f"c{i}@a.com", "first_name": f"C{i}"},
                               headers=svc.headers("a")).status_code == 201
    page = svc.client.get(f"/v1/contacts?sort={sort}&limit=1", headers=svc.headers("a")).get_json()
    raw = page["next_cursor"]
    return json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))


def test_nul_and_lone_surrogates_in_json_bodies_are_422_naming_the_field(svc: ServiceHarness) -> None:
    cases = {
        '{"email": "n@a.com", "first_name": "a\\u0000b"}': "first_name",
        '{"email": "n@a.com", "first_name": "\\ud800"}': "first_name",
        '{"email": "n@a.com", "tags": ["ok", "b\\u0000"]}': "tags.1",
        '{"email": "n@a.com", "properties": {"k\\u0000": "v"}}': "properties.k\\u0000",
    }
    for raw, field in cases.items():
        resp = _post_json(svc, "/v1/contacts", raw)
        assert resp.status_code == 422, (raw, resp.get_json())
        assert resp.mimetype == "application/problem+json"
        assert list(resp.get_json()["errors"]) == [field], raw
    # The same checks apply to every body: a scoring rule's filter, a PATCH.
    rule = _post_json(svc, "/v1/scoring-rules", '{"name": "r", "filter": "first_name = \'\\u0000\'", "points": 1}')
    assert rule.status_code == 422 and list(rule.get_json()["errors"]) == ["filter"]
    assert svc.client.get("/v1/contacts", headers=svc.headers("a")).get_json()["data"] == []


def test_json_too_deep_or_not_a_number_is_400(svc: ServiceHarness) -> None:
    for raw in ["[" * 100_000 + "]" * 100_000, '{"email": "d@a.com", "properties": {"x": ' + "[" * 70 + "]" * 70 + "}}",
                '{"email": "d@a.com", "lead_score": NaN}', '{"email": "d@a.com", "lead_score": 1e999}']:
        resp = _post_json(svc, "/v1/contacts", raw)
        assert resp.status_code == 400, (raw[:60], resp.get_json())
        assert "not valid JSON" in resp.get_json()["detail"]


def test_nul_in_query_path_and_headers_is_400_naming_it(svc: ServiceHarness) -> None:
    h = svc.headers("a")
    for url, name in [("/v1/contacts?q=a%00b", "q"), ("/v1/contacts?filter=first_name%20%3D%20%27a%00%27", "filter"),
                      ("/v1/contacts?x%00=1", "x\\u0000"), ("/v1/properties/contacts/a%00b", "_path")]:
        resp = svc.client.get(url, headers=h)
        assert resp.status_code == 400, (url, resp.get_json())
        assert list(resp.get_json()["errors"]) == [name]
    resp = svc.client.post("/v1/contacts", json={"email": "h@a.com"}, headers={**h, "Idempotency-Key": "k\x00"})
    assert resp.status_code == 400 and list(resp.get_json()["errors"]) == ["Idempotency-Key"]


@pytest.mark.parametrize("value", ["a\u0000b", "\ud800", "\udfff"])
def test_tampered_cursor_text_is_400(svc: ServiceHarness, value: str) -> None:
    payload = _cursor(svc, "first_name")
    payload["v"][0] = value
    resp = svc.client.get(f"/v1/contacts?sort=first_name&limit=1&cursor={_b64(payload)}", headers=svc.headers("a"))
    assert resp.status_code == 400 and list(resp.get_json()["errors"]) == ["cursor"]


def test_cursor_nested_deep_is_400(svc: ServiceHarness) -> None:
    deep = base64.urlsafe_b64encode(("[" * 100_000).encode()).decode()
    resp = svc.client.get(f"/v1/contacts?limit=1&cursor={deep}", headers=svc.headers("a"))
    assert resp.status_code == 400 and list(resp.get_json()["errors"]) == ["cursor"]


def _multipart(*parts: tuple[bytes, bytes]) -> bytes:
    body = b"".join(b"--XX\r\nContent-Disposition: form-data; " + disposition + b"\r\n\r\n" + value + b"\r\n"
                    for disposition, value in parts)
    return body + b"--XX--\r\n"


FILE = (b'name="file"; filename="a.csv"\r\nContent-Type: text/csv', b"email\r\na@b.com")
OBJECT = (b'name="object"', b"contacts")


@pytest.mark.parametrize(("parts", "status", "field"), [
    ([(b'name="\xff\xfe"', b"v"), OBJECT, FILE], 400, "_body"),  # a part header that is not UTF-8
    ([OBJECT, (b'name="file"; filename="\xff.csv"\r\nContent-Type: text/csv', b"email")], 400, "_body"),
    ([(b'name="a\x00b"', b"v"), OBJECT, FILE], 422, "a\\u0000b"),
    ([(b'name="object"', b"cont\x00acts"), FILE], 422, "object"),
    ([OBJECT, (b'name="file"; filename="a\x00.csv"\r\nContent-Type: text/csv', b"email")], 422, "file"),
    ([OBJECT, (b'name="mapping"', b'{"E\\u0000": "email"}'), FILE], 422, "mapping.E\\u0000"),
    ([OBJECT, (b'name="mapping"', b'{"E": "\\ud800"}'), FILE], 422, "mapping.E"),
])
def test_multipart_uploads_with_unstorable_names_or_values_are_4xx(svc: ServiceHarness, parts: list[tuple[bytes, bytes]],
                                                                  status: int, field: str) -> None:
    resp = svc.client.post("/v1/imports", data=_multipart(*parts), content_type="multipart/form-data; boundary=XX",
                           headers={**svc.headers("a"), "Idempotency-Key": "upload-1"})
    assert resp.status_code == status, resp.get_json()
    assert list(resp.get_json()["errors"]) == [field]


def test_urlencoded_body_that_is_not_utf8_is_400(svc: ServiceHarness) -> None:
    resp = svc.client.post("/v1/imports", data=b"object=\xff", content_type="application/x-www-form-urlencoded",
                           headers=svc.headers("a"))
    assert resp.status_code == 400 and list(resp.get_json()["errors"]) == ["_body"]
