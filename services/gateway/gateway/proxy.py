"""Forwarding to the services over pooled keep-alive connections, with a fresh internal token."""

from __future__ import annotations

from dataclasses import dataclass

import urllib3
from flask import Request, Response

from crm_core.errors import ServiceUnavailable

# Never forwarded from the client: hop-by-hop headers, the client's credential, and anything
# that could pass for an internal header.
_DROP_REQUEST = {"host", "connection", "keep-alive", "proxy-authorization", "te", "trailer", "transfer-encoding",
                 "upgrade", "authorization", "content-length", "cookie"}
_DROP_RESPONSE = {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}
_INTERNAL_PREFIXES = ("x-internal-", "x-tenant", "x-user", "x-forwarded-")


@dataclass(frozen=True)
class Route:
    prefix: str
    service: str
    base_url: str
    area: str


class Router:
    def __init__(self, routes: list[Route], *, pool_size: int = 32, timeout: float = 30.0) -> None:
        # Longest prefix first so /v1/kb/articles never matches a shorter /v1/k... route.
        self.routes = sorted(routes, key=lambda r: len(r.prefix), reverse=True)
        self.pool = urllib3.PoolManager(num_pools=16, maxsize=pool_size, block=False, retries=False,
                                        timeout=urllib3.Timeout(connect=2.0, read=timeout))

    def match(self, path: str) -> Route | None:
        for route in self.routes:
            if path == route.prefix or path.startswith(route.prefix + "/"):
                return route
        return None

    def forward(self, route: Route, request: Request, internal_headers: dict[str, str]) -> Response:
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in _DROP_REQUEST and not k.lower().startswith(_INTERNAL_PREFIXES)}
        headers.update(internal_headers)
        headers["X-Forwarded-For"] = request.remote_addr or ""
        url = route.base_url + request.full_path if request.query_string else route.base_url + request.path
        try:
            upstream = self.pool.request(request.method, url, body=request.get_data(cache=True) or None,
                                         headers=headers, redirect=False, preload_content=True)
        except urllib3.exceptions.HTTPError as exc:
            raise ServiceUnavailable(f"The {route.service} service is unavailable; try again shortly.",
                                     headers={"Retry-After": "5"}) from exc
        resp = Response(upstream.data, status=upstream.status)
        for key, value in upstream.headers.items():
            if key.lower() not in _DROP_RESPONSE:
                resp.headers[key] = value
        return resp
