"""Forwarding to the services over pooled keep-alive connections, with a fresh internal token."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import urllib3
from flask import Request, Response

from crm_core.errors import ServiceUnavailable

# Never forwarded from the client: hop-by-hop headers, the client's credential, and anything
# that could pass for an internal header.
_DROP_REQUEST = {"host", "connection", "keep-alive", "proxy-authorization", "te", "trailer", "transfer-encoding",
                 "upgrade", "authorization", "content-length", "cookie"}
_DROP_RESPONSE = {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}
_INTERNAL_PREFIXES = ("x-internal-", "x-tenant", "x-user", "x-forwarded-")
# Streamed both ways instead of buffered: CSV uploads (up to upload_limit, not the 1 MiB of every
# other body) and CSV downloads of any size.
STREAMED_UPLOADS = frozenset({("POST", "/v1/imports")})
STREAMED_DOWNLOADS = re.compile(r"^/v1/(exports/[^/]+/file|imports/[^/]+/errors)$")
STREAM_BLOCK = 64 * 1024
INBOUND_MIME_PREFIX = "/inbound/mime/"  # the mail service's raw-message webhook (an open prefix)
# The customer portal (tickets, an open prefix) has a credential of its own, unknown to the
# gateway: its session cookie and a portal bearer ("cps_...") go on to the portal routes; no other
# cookie, and never a staff token or API key, is forwarded.
PORTAL_PREFIX = "/portal/"
PORTAL_COOKIE = "crm_portal"
PORTAL_BEARER = "Bearer cps_"


@dataclass(frozen=True)
class Route:
    prefix: str  # ending in "/": that prefix and anything after it; else the path or a subpath
    service: str
    base_url: str
    area: str
    # Forwarded without a credential, for the public principal (catalog ServiceInfo.open_prefixes).
    open: bool = False


def forward_headers(environ: Mapping[str, Any]) -> dict[str, str]:
    """The client's headers that go upstream, read straight from the WSGI environ: the same
    names and values as walking `request.headers` (werkzeug's EnvironHeaders), without building it."""
    headers = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            if key == "HTTP_CONTENT_TYPE" or key == "HTTP_CONTENT_LENGTH":
                continue
            name = key[5:].replace("_", "-")
        elif (key == "CONTENT_TYPE" or key == "CONTENT_LENGTH") and value:
            name = key.replace("_", "-")
        else:
            continue
        lower = name.lower()
        if lower not in _DROP_REQUEST and not lower.startswith(_INTERNAL_PREFIXES):
            headers[name.title()] = value
    return headers


def portal_credentials(path: str, environ: Mapping[str, Any]) -> dict[str, str]:
    """The portal session of a request to /portal/..., as the tickets service reads it."""
    if not path.startswith(PORTAL_PREFIX):
        return {}
    out = {}
    auth = environ.get("HTTP_AUTHORIZATION") or ""
    if auth.startswith(PORTAL_BEARER):
        out["Authorization"] = auth
    for part in (environ.get("HTTP_COOKIE") or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == PORTAL_COOKIE and value:
            out["Cookie"] = f"{PORTAL_COOKIE}={value}"
    return out


def response_headers(upstream: Mapping[str, str] | urllib3.HTTPHeaderDict) -> list[tuple[str, str]]:
    """The upstream's headers passed on (hop-by-hop ones dropped); a repeated name keeps its last value."""
    kept: dict[str, tuple[str, str]] = {}
    for key, value in upstream.items():
        lower = key.lower()
        if lower not in _DROP_RESPONSE:
            kept[lower] = (key, value)
    return list(kept.values())


def _matches_pattern(prefix: str, path: str) -> bool:
    """A prefix with "*" segments ("/v1/deals/*/activities"): each "*" is one non-empty segment;
    the path may go on below the prefix, as with any prefix."""
    want = prefix.rstrip("/").split("/")
    got = path.split("/")
    return len(got) >= len(want) and all(w == g or (w == "*" and g != "") for w, g in zip(want, got, strict=False))


class Router:
    def __init__(self, routes: list[Route], *, pool_size: int = 32, timeout: float = 30.0,
                 upload_limit: int = 2 * 1024**3, upload_timeout: float = 600.0,
                 body_limits: Mapping[str, int] | None = None) -> None:
        # Longest prefix first so /v1/kb/articles never matches a shorter /v1/k... route.
        self.routes = sorted(routes, key=lambda r: len(r.prefix), reverse=True)
        # One keep-alive pool per service, called directly: a PoolManager would parse the URL and
        # look the pool up again on every request.
        self._pools: dict[str, tuple[urllib3.HTTPConnectionPool, str]] = {}
        for route in self.routes:
            if route.base_url not in self._pools:
                pool = urllib3.connection_from_url(route.base_url, maxsize=pool_size, block=False, retries=False,
                                                   timeout=urllib3.Timeout(connect=2.0, read=timeout))
                self._pools[route.base_url] = (pool, urlsplit(route.base_url).path.rstrip("/"))
        self.upload_limit = upload_limit
        # Route prefix -> its own body limit, streamed like an upload (raw inbound mail, 25 MiB).
        self.body_limits = dict(body_limits or {})
        # The service answers an upload once it has stored all of it: allow it the time.
        self.upload_timeout = urllib3.Timeout(connect=2.0, read=upload_timeout)

    def get(self, base_url: str, path: str, timeout: urllib3.Timeout) -> urllib3.BaseHTTPResponse:
        """A GET of the gateway's own (the OpenAPI fragments) over the service's pool."""
        pool, base_path = self._pools[base_url]
        return pool.urlopen("GET", base_path + path, redirect=False, assert_same_host=False, timeout=timeout)

    def match(self, path: str) -> Route | None:
        for route in self.routes:
            prefix = route.prefix
            if "*" in prefix:
                if _matches_pattern(prefix, path):
                    return route
            elif path == prefix or path.startswith(prefix if prefix.endswith("/") else prefix + "/"):
                return route
        return None

    def is_open(self, path: str) -> bool:
        route = self.match(path)
        return route is not None and route.open

    def open_prefixes_outside_v1(self) -> list[str]:
        """Open prefixes the `/v1/...` forward route does not catch (the gateway adds a route each)."""
        return sorted({r.prefix for r in self.routes if r.open and not r.prefix.startswith("/v1/")})

    def forward(self, route: Route, request: Request, internal_headers: dict[str, str]) -> Response:
        headers = forward_headers(request.environ)
        if route.open:
            headers.update(portal_credentials(request.path, request.environ))
        headers.update(internal_headers)
        headers["X-Forwarded-For"] = request.remote_addr or ""
        pool, base_path = self._pools[route.base_url]
        target = base_path + (request.full_path if request.query_string else request.path)
        limit = self.body_limits.get(route.prefix)
        upload = limit is not None or (request.method, request.path) in STREAMED_UPLOADS
        download = request.method == "GET" and STREAMED_DOWNLOADS.match(request.path) is not None
        body: object = None
        if upload:
            # Before anything touches the body: this route's own limit (413 above it), then the
            # stream itself goes upstream, with the client's length or chunked.
            request.max_content_length = limit if limit is not None else self.upload_limit
            body = request.stream
            if request.content_length is not None:
                headers["Content-Length"] = str(request.content_length)
        else:
            body = request.get_data(cache=True) or None
        try:
            extra = {"timeout": self.upload_timeout} if upload else {}
            upstream = pool.urlopen(request.method, target, body=body, headers=headers, redirect=False,
                                    assert_same_host=False, preload_content=not download, **extra)
        except urllib3.exceptions.HTTPError as exc:
            raise ServiceUnavailable(f"The {route.service} service is unavailable; try again shortly.",
                                     headers={"Retry-After": "5"}) from exc
        passed = response_headers(upstream.headers)
        if download:
            resp = Response(_relay(upstream), status=upstream.status, headers=passed, direct_passthrough=True)
            if upstream.headers.get("Content-Length"):
                resp.headers["Content-Length"] = upstream.headers["Content-Length"]
            return resp
        return Response(upstream.data, status=upstream.status, headers=passed)


def _relay(upstream: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    """A big answer passed on block by block, never held whole; the connection goes back to the pool."""
    try:
        yield from upstream.stream(STREAM_BLOCK, decode_content=False)
    finally:
        upstream.release_conn()
