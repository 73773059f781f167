"""The web console (web/, built by Vite into web/dist) served by the gateway at /.

Static and public: the files hold no data (every record comes through /v1 with the user's token).
Hashed assets (/assets/*) are cached for a year as immutable; index.html is revalidated on every
load so a new build is picked up at once. Every console page carries a strict Content-Security-
Policy: scripts, styles and API calls from this origin only, no inline script, no framing.
Paths that belong to the API or the portal are never answered here.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
# The API, the docs, the portal, calendar feeds, inbound mail and probes stay the gateway's.
NOT_CONSOLE = ("/v1/", "/v1", "/docs", "/portal/", "/calendar/", "/inbound/", "/healthz", "/readyz", "/metrics")
IMMUTABLE = "public, max-age=31536000, immutable"
SECURITY_HEADERS = [("Content-Security-Policy", CSP), ("X-Content-Type-Options", "nosniff"),
                    ("Referrer-Policy", "same-origin"), ("X-Frame-Options", "DENY")]

NOT_BUILT = (b"<!doctype html><html lang=en><head><meta charset=utf-8><title>CRM</title></head><body>"
             b"<h1>The web console is not built</h1><p><code>make up</code> builds it when npm is on the PATH "
             b"(or run <code>npm ci &amp;&amp; npm run build</code> in <code>web/</code>). The API is at "
             b"<a href=/docs>/docs</a>.</p></body></html>")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _is_console_path(path: str) -> bool:
    return not any(path == p or path.startswith(p if p.endswith("/") else p + "/") for p in NOT_CONSOLE)


def _wants_html(environ: dict[str, Any]) -> bool:
    accept = environ.get("HTTP_ACCEPT", "")
    return "text/html" in accept or accept in ("", "*/*")


class Console:
    """WSGI middleware: GET/HEAD of console paths from `dist`; everything else to `app`."""

    def __init__(self, app: WsgiApp, dist: Path) -> None:
        self.app, self.dist = app, dist.resolve()

    @property
    def built(self) -> bool:
        return (self.dist / "index.html").is_file()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD") or not _is_console_path(path):
            return self.app(environ, start_response)
        if not self.built:
            if path == "/" and _wants_html(environ):
                start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-cache"),
                                          *SECURITY_HEADERS])
                return [NOT_BUILT]
            return self.app(environ, start_response)
        head = environ["REQUEST_METHOD"] == "HEAD"
        if path.startswith("/assets/"):
            asset = (self.dist / path.lstrip("/")).resolve()
            if not asset.is_relative_to(self.dist / "assets") or not asset.is_file():
                return self.app(environ, start_response)  # the API's 404 problem
            return self._file(start_response, asset, IMMUTABLE, head)
        top = (self.dist / path.lstrip("/")).resolve() if path.count("/") == 1 and "." in path else None
        if top is not None and top.parent == self.dist and top.is_file():  # favicon.ico, robots.txt
            return self._file(start_response, top, "public, max-age=3600", head)
        if not _wants_html(environ):
            return self.app(environ, start_response)
        # Any other path is a screen of the single-page app: its router reads the URL.
        return self._file(start_response, self.dist / "index.html", "no-cache", head)

    def _file(self, start_response: Callable[..., Any], file: Path, cache: str, head: bool) -> Iterable[bytes]:
        body = file.read_bytes()
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind in ("application/javascript", "text/javascript", "application/json"):
            kind += "; charset=utf-8"
        start_response("200 OK", [("Content-Type", kind), ("Content-Length", str(len(body))),
                                  ("Cache-Control", cache), *SECURITY_HEADERS])
        return [b""] if head else [body]
