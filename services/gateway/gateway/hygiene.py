"""What the public side of the gateway refuses before any routing: non-canonical paths, and the
operational endpoints (/metrics, the detailed /readyz) unless the request came in on the
internal listener (CRM_INTERNAL_PORT)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, jsonify, request

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# Encoded ".", "/", "\\", NUL and "%" itself (double encoding) in the raw path: a proxy that decodes
# them differently from the service behind it is how `/v1/contacts/%2e%2e/%2e%2e/metrics` reached /metrics.
_BAD_ENCODED = re.compile(r"%(2e|2f|5c|00|25)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")


def canonical_path_problem(raw_path: str, decoded_path: str) -> str | None:
    """Why a path is not canonical, or None when it is."""
    if not decoded_path.startswith("/"):
        return "The path must start with '/'."
    if _BAD_ENCODED.search(raw_path):
        return "Encoded '.', '/', '\\', '%' or NUL are not allowed in the path."
    if _CONTROL.search(decoded_path):
        return "Control characters and '\\' are not allowed in the path."
    segments = decoded_path.split("/")[1:]
    if any(seg in (".", "..") for seg in segments):
        return "Dot segments ('.', '..') are not allowed in the path."
    if any(seg == "" for seg in segments[:-1]):
        return "Empty path segments ('//') are not allowed."
    return None


def _raw_path(environ: dict[str, Any]) -> str:
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""  # gunicorn / werkzeug
    if raw.startswith(("http://", "https://")):  # absolute-form request target
        raw = "/" + raw.split("://", 1)[1].partition("/")[2]
    return raw.split("?", 1)[0]


def reject_non_canonical(app: WsgiApp) -> WsgiApp:
    """WSGI middleware: 400 problem+json for a non-canonical path, before Flask routes anything."""

    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        decoded = environ.get("PATH_INFO", "")
        raw = _raw_path(environ) or decoded
        problem = canonical_path_problem(raw, decoded)
        if problem is None:
            return app(environ, start_response)
        body = json.dumps({"type": "about:blank", "title": "Bad Request", "status": 400, "detail": problem}).encode()
        start_response("400 Bad Request", [("Content-Type", "application/problem+json"),
                                           ("Content-Length", str(len(body)))])
        return [body]

    return middleware


def local_port(environ: dict[str, Any]) -> int | None:
    """The port the connection was accepted on (not the Host header, which the client writes)."""
    sock = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
    if sock is None and environ.get("SERVER_SOFTWARE") == "Granian":
        # granian passes no socket; its SERVER_PORT is the bound port, not the Host header's.
        try:
            return int(environ["SERVER_PORT"])
        except (KeyError, TypeError, ValueError):
            return None
    try:
        return int(sock.getsockname()[1]) if sock is not None else None
    except (OSError, AttributeError, IndexError, TypeError, ValueError):
        return None


def install_internal_only(app: Flask, internal_port: int | None) -> None:
    """/metrics: internal listener only (404 elsewhere). /readyz: the failures only there; the
    public answer is just ready or not."""

    def gate() -> Response | None:
        if request.path not in ("/metrics", "/readyz"):
            return None
        internal = internal_port is not None and local_port(request.environ) == internal_port
        if internal:
            return None
        if request.path == "/metrics":
            resp = jsonify({"type": "about:blank", "title": "Not Found", "status": 404,
                            "detail": "No API resource at /metrics."})
            resp.status_code, resp.mimetype = 404, "application/problem+json"
            return resp
        return None

    def summarise(resp: Response) -> Response:
        if request.path == "/readyz" and not (internal_port is not None
                                              and local_port(request.environ) == internal_port):
            # Keeps the headers the other hooks set (request id); drops which dependency failed.
            resp.set_data(json.dumps({"status": "ready" if resp.status_code == 200 else "unavailable"}))
        return resp

    app.before_request_funcs.setdefault(None, []).insert(0, gate)
    app.after_request_funcs.setdefault(None, []).insert(0, summarise)
