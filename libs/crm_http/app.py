"""The Flask app every process serves: request ids, auth hook, problem+json, metrics, health."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, g, request

from crm_core import context
from crm_core.ids import uuid7
from crm_core.logging import configure as configure_logging
from crm_core.metrics import SafeMetric, exposition, metrics
from crm_core.settings import Settings
from crm_http import problems
from crm_http.parsing import CrmRequest, check_request_text

MAX_BODY_BYTES = 1024 * 1024
access_log = logging.getLogger("crm.access")
REQUEST_ID = "X-Request-Id"
_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json"})

ReadinessCheck = Callable[[], None]


def _begin() -> None:
    g.started = time.perf_counter()
    incoming = request.headers.get(REQUEST_ID, "")
    context.clear()
    context.set_request_id(incoming if _REQUEST_ID_OK.match(incoming) else str(uuid7()))


_MAX_LABELLED = 2000  # (route, method, status) children kept per process; beyond, looked up each time


def _finish(service: str) -> Callable[[Response], Response]:
    # The labelled children, looked up once per (route, method, status): a labels() call hashes
    # and locks every time. Dropped whenever metrics() hands out another set (after a failed start).
    cache: dict[tuple[str, str, int], tuple[Any, Any]] = {}
    owner: list[object] = [None]

    def children(rule: str, method: str, status: int) -> tuple[Any, Any]:
        m = metrics()
        if owner[0] is not m:
            cache.clear()
            owner[0] = m
        key = (rule, method, status)
        found = cache.get(key)
        if found is None:
            found = (m.http_requests.labels(service, rule, method, str(status)),
                     m.http_duration.labels(service, rule, method))
            # Not a child that failed to be made (a no-op stand-in): that is tried again next time.
            if len(cache) < _MAX_LABELLED and all(isinstance(c, SafeMetric) for c in found):
                cache[key] = found
        return found

    def after(resp: Response) -> Response:
        resp.headers[REQUEST_ID] = context.current_request_id() or ""
        # The gateway labels proxied calls by route prefix; label values stay a small, fixed set.
        rule = g.get("route_label") or (request.url_rule.rule if request.url_rule else "unmatched")
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        requests_total, duration = children(rule, request.method, resp.status_code)
        requests_total.inc()
        duration.observe(elapsed)
        if access_log.isEnabledFor(logging.INFO):
            # One line per request in every service it crossed, joined by request_id.
            access_log.info("%s %s %s", request.method, rule, resp.status_code, extra={"fields": {
                "method": request.method, "route": rule, "status": resp.status_code,
                "duration_ms": round(elapsed * 1000, 2)}})
        return resp

    return after


def create_base_app(
    settings: Settings,
    *,
    authenticate: Callable[[], None] | None,
    readiness: list[ReadinessCheck] | None = None,
    public_paths: frozenset[str] = PUBLIC_PATHS,
) -> Flask:
    """A Flask app with the platform's conventions; `authenticate` runs before every non-public route."""
    configure_logging(settings.service, settings.log_level)
    app = Flask(settings.service)
    app.request_class = CrmRequest  # form and multipart bodies checked like JSON ones
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["crm_settings"] = settings
    problems.install(app)
    app.before_request(_begin)
    app.before_request(check_request_text)
    if authenticate is not None:
        def _auth() -> None:
            if request.path not in public_paths:
                authenticate()

        app.before_request(_auth)
    app.after_request(_finish(settings.service))
    app.teardown_request(lambda _exc: context.clear())

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "service": settings.service}

    @app.get("/readyz")
    def readyz() -> tuple[dict[str, object], int]:
        failures = {}
        for check in readiness or []:
            try:
                check()
            except Exception as exc:  # any failure means not ready; say which
                failures[getattr(check, "__name__", "check")] = str(exc)[:200]
        if failures:
            return {"status": "unavailable", "failures": failures}, 503
        return {"status": "ready"}, 200

    @app.get("/metrics")
    def metrics_endpoint() -> Response:
        return Response(exposition(), mimetype="text/plain; version=0.0.4")

    return app
