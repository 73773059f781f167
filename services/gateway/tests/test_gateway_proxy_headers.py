"""The proxy's header handling, compared with the code it replaced on the same inputs."""

from __future__ import annotations

import pytest
import urllib3
from flask import Request, Response
from werkzeug.test import EnvironBuilder

from gateway.proxy import _DROP_REQUEST, _DROP_RESPONSE, _INTERNAL_PREFIXES, forward_headers, response_headers

CLIENT_HEADERS = [
    {},
    {"Accept": "application/json", "User-Agent": "curl/8", "X-Request-Id": "abc", "Idempotency-Key": "k1"},
    {"Authorization": "Bearer secret", "Cookie": "a=b", "Proxy-Authorization": "x", "Connection": "keep-alive",
     "Keep-Alive": "5", "TE": "trailers", "Trailer": "x", "Upgrade": "h2c", "Host": "evil.example"},
    {"X-Internal-Token": "forged", "X-Tenant-Id": "t", "X-Tenant": "t", "X-User-Id": "u", "X-Userish": "u",
     "X-Forwarded-For": "1.2.3.4", "X-Forwarded-Host": "h", "x-internal-anything": "y", "X-Forwarded": "kept"},
    {"Content-Type": "application/json", "If-Match": '"v1"', "Accept-Language": "fr", "X-Custom_Under": "u"},
    {"Prefer": "return=minimal", "Range": "bytes=0-1", "X-Tenantless": "still dropped (prefix x-tenant)"},
]


def _before(request: Request) -> dict[str, str]:
    """The code forward_headers replaced, verbatim."""
    return {k: v for k, v in request.headers.items()
            if k.lower() not in _DROP_REQUEST and not k.lower().startswith(_INTERNAL_PREFIXES)}


@pytest.mark.parametrize("headers", CLIENT_HEADERS)
@pytest.mark.parametrize("method,body", [("GET", None), ("POST", b'{"a": 1}'), ("POST", b""), ("DELETE", None)])
def test_forward_headers_equal_the_request_headers_walk(headers: dict[str, str], method: str,
                                                        body: bytes | None) -> None:
    environ = EnvironBuilder(path="/v1/contacts", method=method, headers=headers, data=body).get_environ()
    environ["HTTP_CONTENT_TYPE"] = "sneaky"  # what werkzeug itself skips
    assert forward_headers(environ) == _before(Request(environ))


def _old_response(upstream: urllib3.HTTPHeaderDict) -> Response:
    resp = Response(b"x", status=200)
    for key, value in upstream.items():
        if key.lower() not in _DROP_RESPONSE:
            resp.headers[key] = value
    return resp


UPSTREAM = [
    [("Content-Type", "application/json"), ("Content-Length", "2"), ("X-Request-Id", "r"), ("Server", "gunicorn"),
     ("Date", "now"), ("Connection", "keep-alive"), ("ETag", '"v3"'), ("Location", "/v1/contacts/1")],
    [("Content-Type", "text/csv"), ("Transfer-Encoding", "chunked"), ("Keep-Alive", "timeout=5"),
     ("Content-Disposition", "attachment"), ("X-Repeated", "1"), ("X-Repeated", "2"), ("RateLimit-Limit", "5")],
    [],  # no Content-Type at all (a 204): the default one stays, as before
]


@pytest.mark.parametrize("pairs", UPSTREAM)
def test_response_headers_equal_setting_them_one_by_one(pairs: list[tuple[str, str]]) -> None:
    upstream = urllib3.HTTPHeaderDict()
    for key, value in pairs:
        upstream.add(key, value)
    new = Response(b"x", status=200, headers=response_headers(upstream))
    old = _old_response(upstream)
    assert sorted((k.lower(), v) for k, v in new.headers.items()) == sorted((k.lower(), v) for k, v in old.headers.items())


def test_portal_credentials_only_on_portal_paths() -> None:
    """The customer portal's own session (cookie or cps_ bearer) reaches /portal/ paths; a staff
    token, an API key and every other cookie stay behind, there and everywhere else."""
    from gateway.proxy import portal_credentials

    def creds(path: str, **headers: str) -> dict[str, str]:
        return portal_credentials(path, EnvironBuilder(path=path, headers=headers).get_environ())

    assert creds("/portal/acme/tickets", Cookie="theme=dark; crm_portal=cps_abc; other=1") == {
        "Cookie": "crm_portal=cps_abc"}
    assert creds("/portal/acme/tickets", Authorization="Bearer cps_abc") == {"Authorization": "Bearer cps_abc"}
    assert creds("/portal/acme/tickets", Authorization="Bearer eyJhbGciOi.staff.jwt") == {}
    assert creds("/portal/acme/tickets", Authorization="Bearer crm_live_key", Cookie="session=x") == {}
    assert creds("/inbound/mime/secret", Authorization="Bearer cps_abc", Cookie="crm_portal=cps_abc") == {}
    assert creds("/v1/tickets", Authorization="Bearer cps_abc", Cookie="crm_portal=cps_abc") == {}


def test_a_clients_workflow_headers_never_go_upstream() -> None:
    """Only a workflow's own token may come with origin and causation (crm_http.auth); a client's
    copies, in any spelling, are dropped here, so no caller can pass for a workflow run."""
    from crm_core.internal_token import CAUSATION_HEADER, ORIGIN_HEADER

    forged = {ORIGIN_HEADER: "workflow", CAUSATION_HEADER: "0190b0c1-7a2e-7c3d-8e4f-5a6b7c8d9e0f",
              "x-internal-origin": "workflow", "X_INTERNAL_CAUSATION": "0190b0c1-7a2e-7c3d-8e4f-5a6b7c8d9e0f",
              "Accept": "application/json"}
    environ = EnvironBuilder(path="/v1/contacts", method="POST", headers=forged, data=b"{}").get_environ()
    assert environ["HTTP_X_INTERNAL_CAUSATION"]  # an underscore spelling reaches the environ like the dashed one
    forwarded = forward_headers(environ)
    assert not [name for name in forwarded if name.lower().startswith("x-internal")], forwarded
    assert forwarded["Accept"] == "application/json"
