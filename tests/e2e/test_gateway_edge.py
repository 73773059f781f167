"""The gateway's edge, over real HTTP: non-canonical paths refused before routing, /metrics and the
detailed /readyz only on the internal listener, audience-bound internal tokens, cached docs."""

from __future__ import annotations

import socket
import time
import uuid

import urllib3

from crm_core.context import Principal
from crm_core.internal_token import HEADER, InternalTokenSigner
from crm_testing.platform import Platform


def _raw(platform: Platform, target: str, token: str) -> tuple[int, bytes]:
    """Send the request line exactly as written (no client-side normalisation of the path)."""
    host, port = platform.gateway_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_non_canonical_paths_never_reach_a_service(embedded_platform: Platform) -> None:
    token = embedded_platform.signup()["access_token"]
    for target in ("/v1/contacts/%2e%2e/%2e%2e/metrics", "/v1/contacts/%2E%2E/%2e%2E/metrics", "/v1/contacts/../../metrics",
                   "/v1/contacts/./x", "/v1/contacts//x", "/v1/contacts/%2f..%2fmetrics", "/v1/contacts/%252e%252e/metrics",
                   "/v1/contacts/a%5c..%5cmetrics", "/v1/contacts/%00"):
        status, body = _raw(embedded_platform, target, token)
        assert status in (400, 404), (target, status)
        assert b"# HELP" not in body and b"# TYPE" not in body, target
    assert _raw(embedded_platform, "/v1/contacts?limit=1", token)[0] == 200


def test_metrics_and_detailed_readiness_only_on_the_internal_listener(embedded_platform: Platform) -> None:
    http = urllib3.PoolManager()
    gateway = embedded_platform.services["gateway"]
    public = http.request("GET", gateway.url + "/metrics")
    assert public.status == 404 and b"# TYPE" not in public.data
    # Spoofing the Host header to the internal port changes nothing: the accepting socket decides.
    internal_port = gateway.internal_url.rsplit(":", 1)[1]
    spoofed = http.request("GET", gateway.url + "/metrics", headers={"Host": f"127.0.0.1:{internal_port}"})
    assert spoofed.status == 404
    internal = http.request("GET", gateway.internal_url + "/metrics")
    assert internal.status == 200 and b"# TYPE" in internal.data
    assert http.request("GET", gateway.url + "/readyz").json() == {"status": "ready"}
    assert http.request("GET", gateway.internal_url + "/readyz").json()["status"] == "ready"


def test_public_readyz_names_no_failures(embedded_platform: Platform) -> None:
    http = urllib3.PoolManager()
    gateway = embedded_platform.services["gateway"]
    app = gateway.server.app  # type: ignore[union-attr]

    def broken() -> None:
        raise RuntimeError("db at 10.0.0.7:5432 refused")

    checks = next(c.cell_contents for c in app.view_functions["readyz"].__closure__ if isinstance(c.cell_contents, list))
    checks.append(broken)
    try:
        public = http.request("GET", gateway.url + "/readyz")
        assert public.status == 503 and public.json() == {"status": "unavailable"}
        internal = http.request("GET", gateway.internal_url + "/readyz")
        assert internal.status == 503 and "broken" in internal.json()["failures"]
    finally:
        checks.remove(broken)


def test_internal_tokens_are_bound_to_their_service(embedded_platform: Platform) -> None:
    account = embedded_platform.signup()
    gateway = embedded_platform.services["gateway"]
    signer = InternalTokenSigner.from_pem(gateway.settings.internal_private_key or "")
    principal = Principal(uuid.UUID(account["tenant"]["id"]), uuid.UUID(account["user"]["id"]), ("owner",),
                          ("contacts:read", "tickets:read"))
    http = urllib3.PoolManager()
    contacts, tickets = embedded_platform.services["contacts"].url, embedded_platform.services["tickets"].url
    for_tickets = signer.mint(principal, "tickets")
    assert http.request("GET", tickets + "/v1/tickets", headers={HEADER: for_tickets}).status == 200
    assert http.request("GET", contacts + "/v1/contacts", headers={HEADER: for_tickets}).status == 401
    assert http.request("GET", contacts + "/v1/contacts",
                        headers={HEADER: signer.mint(principal, "contacts")}).status == 200
    # And through the gateway, each service gets a token minted for it.
    assert embedded_platform.request("GET", "/v1/contacts", token=account["access_token"]).status == 200
    assert embedded_platform.request("GET", "/v1/tickets", token=account["access_token"]).status == 200


def test_docs_are_served_from_cache_while_a_service_hangs(embedded_platform: Platform) -> None:
    gateway = embedded_platform.services["gateway"]
    assert embedded_platform.request("GET", "/v1/openapi.json").status == 200  # warm
    cache = next(c.cell_contents for c in gateway.server.app.view_functions["gateway.openapi"].__closure__  # type: ignore[union-attr]
                 if type(c.cell_contents).__name__ == "OpenApiCache")
    # A service that accepts connections and never answers.
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(16)
    route = next(r for r in cache.router.routes if "*" not in r.prefix and not r.open)  # a plain prefix
    original = route.base_url
    object.__setattr__(route, "base_url", f"http://127.0.0.1:{hang.getsockname()[1]}")
    cache._fresh_until = 0.0  # noqa: SLF001 - stale now: the next request triggers a refresh
    try:
        started = time.monotonic()
        for _ in range(20):
            resp = embedded_platform.request("GET", "/docs")
            assert resp.status == 200 and b"CRM platform API" in resp.data
        assert time.monotonic() - started < 5  # never waits on the hanging service
        # The refresh ran once in the background, bounded by its timeout, and kept the last good fragment.
        deadline = time.monotonic() + 5
        while cache._refreshing.is_set() and time.monotonic() < deadline:  # noqa: SLF001
            time.sleep(0.05)
        doc = embedded_platform.request("GET", "/v1/openapi.json").json()
        assert route.service not in doc["info"].get("x-unavailable-services", [])
        assert any(p.startswith(route.prefix) for p in doc["paths"])
    finally:
        object.__setattr__(route, "base_url", original)
        hang.close()
