"""The answers of /v1/mail/senders, /v1/mail/dkim-keys and /v1/mail/suppressions are the shapes the
OpenAPI document gives them (the console's client is typed from it)."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from crm_testing.apps import ServiceHarness


def _check(document: dict[str, Any], path: str, method: str, status: int, body: Any) -> None:
    schema = document["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": document["components"]})
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
    assert errors == [], (path, method, errors)


def test_senders_dkim_keys_and_suppressions_answer_as_documented(mail_service: ServiceHarness) -> None:
    document = mail_service.client.get("/openapi.json").get_json()
    h = mail_service.headers("a")
    made = mail_service.client.post("/v1/mail/senders", json={"address": "desk@example.com"}, headers=h)
    assert made.status_code == 201
    _check(document, "/v1/mail/senders", "post", 201, made.get_json())
    _check(document, "/v1/mail/senders", "get", 200, mail_service.client.get("/v1/mail/senders", headers=h).get_json())
    item = f"/v1/mail/senders/{made.get_json()['id']}"
    _check(document, "/v1/mail/senders/{record_id}", "get", 200, mail_service.client.get(item, headers=h).get_json())
    renamed = mail_service.client.patch(item, json={"name": "Desk"}, headers=h)
    _check(document, "/v1/mail/senders/{record_id}", "patch", 200, renamed.get_json())
    key = mail_service.client.post("/v1/mail/dkim-keys", json={"domain": "example.com"}, headers=h)
    assert key.status_code == 201
    _check(document, "/v1/mail/dkim-keys", "post", 201, key.get_json())
    _check(document, "/v1/mail/dkim-keys", "get", 200, mail_service.client.get("/v1/mail/dkim-keys", headers=h).get_json())
    suppressed = mail_service.client.post("/v1/mail/suppressions", json={"address": "no@example.com"}, headers=h)
    assert suppressed.status_code == 201
    _check(document, "/v1/mail/suppressions", "post", 201, suppressed.get_json())
    listed = mail_service.client.get("/v1/mail/suppressions", headers=h).get_json()
    _check(document, "/v1/mail/suppressions", "get", 200, listed)
    assert mail_service.client.delete(item, headers=h).status_code == 204
    # another tenant sees none of them
    other = mail_service.headers("b")
    for path in ("/v1/mail/senders", "/v1/mail/dkim-keys", "/v1/mail/suppressions"):
        assert mail_service.client.get(path, headers=other).get_json()["data"] == []
