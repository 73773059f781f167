"""Open paths (catalog open_prefixes): forwarded without a credential, for the public principal,
to a stub mail service on a real port; rate-limited per client address; big raw messages pass."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from gwtest import bearer, signup
from werkzeug.serving import make_server

from crm_core import context
from crm_core.internal_token import HEADER, InternalTokenVerifier


@dataclass
class Upstream:
    """A stand-in for the mail service: records what reached it, answers 202."""

    url: str = ""
    seen: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(size) if size else b""
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        self.seen.append({"method": environ["REQUEST_METHOD"], "path": environ["PATH_INFO"],
                          "query": environ.get("QUERY_STRING", ""), "headers": headers, "size": len(body)})
        start_response("202 Accepted", [("Content-Type", "application/json")])
        return [b'{"accepted": true}']


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    stub = Upstream()
    server = make_server("127.0.0.1", 0, stub, threaded=True)
    stub.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield stub
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _verifier(app: Flask) -> InternalTokenVerifier:
    return InternalTokenVerifier.from_pem(app.extensions["crm_settings"].internal_public_key, "mail")


def test_open_paths_need_no_credential_and_reach_the_service_as_the_public_principal(
        make_gateway: Callable[..., Flask], upstream: Upstream) -> None:
    app = make_gateway(CRM_MAIL_URL=upstream.url)
    gw = app.test_client()
    forged = {"Authorization": "Bearer crm_not-a-real-key", "X-Internal-Token": "forged", "X-Tenant-Id": "t",
              "X-User-Id": "u", "X-Request-Id": "req-open-1"}
    raw = b"From: a@example.com\r\nTo: support@inbound.localhost\r\nSubject: hi\r\n\r\nhello\r\n"
    resp = gw.post("/inbound/mime/s3cret-value", data=raw, headers={**forged, "Content-Type": "message/rfc822"})
    assert resp.status_code == 202, resp.get_data(as_text=True)
    assert resp.get_json() == {"accepted": True}
    got = gw.get("/v1/mail/verify?token=abc", headers={"Accept": "text/html"})  # no Authorization at all
    assert got.status_code == 202
    first, second = upstream.seen
    assert (first["method"], first["path"], first["size"]) == ("POST", "/inbound/mime/s3cret-value", len(raw))
    assert (second["path"], second["query"]) == ("/v1/mail/verify", "token=abc")
    for seen in (first, second):
        headers = seen["headers"]
        assert "Authorization" not in headers and "X-Tenant-Id" not in headers and "X-User-Id" not in headers
        principal = _verifier(app).verify(headers[HEADER.title()])  # signed by the gateway, not "forged"
        assert principal == context.public_principal()
        assert principal.tenant_id == context.PUBLIC_TENANT and principal.scopes == () and principal.user_id is None
    assert first["headers"]["X-Request-Id"] == "req-open-1"
    assert second["headers"]["X-Request-Id"]  # minted by the gateway when the client sent none


def test_only_the_open_prefixes_are_open(make_gateway: Callable[..., Flask], upstream: Upstream) -> None:
    app = make_gateway(CRM_MAIL_URL=upstream.url)
    gw = app.test_client()
    for path in ("/v1/mail/messages", "/v1/mail/verifyx", "/v1/mail/senders/verify"):
        resp = gw.get(path)
        assert resp.status_code == 401, path
        assert resp.content_type == "application/problem+json"
    assert gw.get("/inbound/other/x").status_code == 401  # not open: authenticated like any path
    assert upstream.seen == []
    # A tenant's own credential still needs the mail scopes on the closed prefix.
    owner = signup(gw)
    assert gw.get("/v1/mail/messages", headers=bearer(owner["access_token"])).status_code == 202
    key = gw.post("/v1/api-keys", json={"name": "c", "scopes": ["contacts:read"]},
                  headers=bearer(owner["access_token"])).get_json()["key"]
    for method, scope in (("GET", "mail:read"), ("POST", "mail:write")):
        refused = gw.open("/v1/mail/messages", method=method, json={}, headers=bearer(key))
        assert refused.status_code == 403 and refused.get_json()["required_scope"] == scope
    reader = gw.post("/v1/api-keys", json={"name": "m", "scopes": ["mail:read"]},
                     headers=bearer(owner["access_token"])).get_json()["key"]
    assert gw.get("/v1/mail/messages", headers=bearer(reader)).status_code == 202
    assert gw.post("/v1/mail/messages", json={}, headers=bearer(reader)).status_code == 403
    forwarded = _verifier(app).verify(upstream.seen[-1]["headers"][HEADER.title()])
    assert str(forwarded.tenant_id) == owner["tenant"]["id"] and "mail:read" in forwarded.scopes


@pytest.mark.parametrize("store", ["in-process", "redis"])
def test_open_paths_are_rate_limited_per_client_address(make_gateway: Callable[..., Flask], upstream: Upstream,
                                                       store: str, request: pytest.FixtureRequest) -> None:
    redis_url = request.getfixturevalue("redis_url") if store == "redis" else None
    app = make_gateway(redis_url=redis_url, CRM_MAIL_URL=upstream.url, CRM_RATE_LIMIT_OPEN_BURST="3",
                       CRM_RATE_LIMIT_OPEN_RATE="0.001", CRM_TRUSTED_PROXIES="127.0.0.1/32")
    gw = app.test_client()
    # Fresh addresses each run: a shared Redis keeps buckets between runs.
    net = secrets.randbelow(250) + 1
    a, b = ({"X-Forwarded-For": f"10.{net}.{secrets.randbelow(250)}.{i}"} for i in (1, 2))
    codes = [gw.post("/inbound/mime/s", data=b"x", headers=a).status_code for _ in range(4)]
    assert codes == [202, 202, 202, 429]
    refused = gw.post("/inbound/mime/s", data=b"x", headers=a)
    assert refused.content_type == "application/problem+json" and int(refused.headers["Retry-After"]) >= 1
    assert len(upstream.seen) == 3
    # Another client has its own budget, and the open budget is not the anonymous one (signup).
    assert gw.get("/v1/mail/verify?token=t", headers=b).status_code == 202
    assert gw.post("/v1/signup", json={"company": "A", "email": "a@example.com", "password": "long enough pw"},
                   headers=a).status_code == 201


def test_a_raw_message_may_be_as_big_as_the_mail_limit_on_that_prefix_only(
        make_gateway: Callable[..., Flask], upstream: Upstream) -> None:
    gw = make_gateway(CRM_MAIL_URL=upstream.url, CRM_MAIL_MAX_MESSAGE_MIB="3").test_client()
    big = b"x" * (2 * 1024 * 1024)  # over the 1 MiB of every other body, under the 3 MiB limit
    assert gw.post("/inbound/mime/s", data=big, headers={"Content-Type": "message/rfc822"}).status_code == 202
    assert upstream.seen[-1]["size"] == len(big)
    too_big = gw.post("/inbound/mime/s", data=b"x" * (4 * 1024 * 1024))
    assert too_big.status_code == 413 and too_big.content_type == "application/problem+json"
    assert gw.post("/v1/mail/verify", data=big).status_code == 413  # the other open prefix: the usual 1 MiB
    assert len(upstream.seen) == 1
