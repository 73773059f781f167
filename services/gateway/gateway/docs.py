"""The merged OpenAPI document and a self-contained HTML rendering of it for /docs (no CDN needed)."""

from __future__ import annotations

import html
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import urllib3

from crm_http.openapi import ApiDoc, merge
from gateway.proxy import Router

log = logging.getLogger(__name__)


class OpenApiCache:
    """Each service publishes its fragment at /openapi.json; the gateway merges them.

    Anonymous /docs traffic must never tie up the gateway while a service is down: the merged
    document is served from memory, refreshed in one background thread at most when older than
    `ttl` (sooner, `retry`, while a service was missing), and a service that doesn't answer
    within `fetch_timeout` keeps its last good fragment. Only the very first build runs in a
    request, with fragments fetched in parallel (bounded by `fetch_timeout`), one build at a time.
    """

    def __init__(self, own: ApiDoc, router: Router, ttl: float = 60.0, retry: float = 5.0,
                 fetch_timeout: float = 1.0) -> None:
        self.own = own.spec()
        self.router = router
        self.ttl, self.retry, self.fetch_timeout = ttl, retry, fetch_timeout
        self._doc: dict[str, Any] | None = None
        self._html: str | None = None
        self._html_of: dict[str, Any] | None = None
        self._fresh_until = 0.0
        self._fragments: dict[str, dict[str, Any]] = {}  # last good fragment per service
        self._build_lock = threading.Lock()
        self._refreshing = threading.Event()

    def document(self) -> dict[str, Any]:
        doc = self._doc
        if doc is None:
            with self._build_lock:  # first use: one build, the others wait for it
                if self._doc is None:
                    self._rebuild()
            doc = self._doc
            assert doc is not None
        elif time.monotonic() >= self._fresh_until and not self._refreshing.is_set():
            self._refreshing.set()
            threading.Thread(target=self._refresh_in_background, name="openapi-refresh", daemon=True).start()
        return doc

    def html(self) -> str:
        doc = self.document()
        cached = self._html
        if cached is None or self._html_of is not doc:
            cached = render_html(doc)
            self._html, self._html_of = cached, doc
        return cached

    def _refresh_in_background(self) -> None:
        try:
            with self._build_lock:
                self._rebuild()
        except Exception:  # the last good copy stays served
            log.exception("refreshing the merged OpenAPI document failed")
            self._fresh_until = time.monotonic() + self.retry
        finally:
            self._refreshing.clear()

    def _rebuild(self) -> None:
        doc, complete = self._build()
        self._doc = doc
        self._fresh_until = time.monotonic() + (self.ttl if complete else self.retry)

    def _fetch(self, base_url: str) -> dict[str, Any]:
        resp = self.router.get(base_url, "/openapi.json", timeout=urllib3.Timeout(total=self.fetch_timeout))
        if resp.status != 200:
            raise RuntimeError(f"status {resp.status}")
        fragment = json.loads(resp.data)
        if not isinstance(fragment, dict):
            raise RuntimeError("not a JSON object")
        return fragment

    def _build(self) -> tuple[dict[str, Any], bool]:
        services: dict[str, str] = {}  # service -> base URL
        for route in self.router.routes:
            services.setdefault(route.service, route.base_url)
        missing: list[str] = []
        with ThreadPoolExecutor(max_workers=max(1, len(services))) as pool:
            futures = {name: pool.submit(self._fetch, base) for name, base in services.items()}
            for name, future in futures.items():
                try:
                    self._fragments[name] = future.result()
                except Exception as exc:  # a service being down must not take the docs down
                    log.warning("no OpenAPI fragment from %s: %s", name, exc)
                    missing.append(name)
        fragments = [self.own] + [self._fragments[n] for n in services if n in self._fragments]
        doc = merge("CRM platform API", fragments)
        doc["info"]["description"] = "Multi-tenant CRM. Authenticate with `Authorization: Bearer <token or API key>`."
        absent = sorted(n for n in services if n not in self._fragments)
        if absent:
            doc["info"]["x-unavailable-services"] = absent
        return doc, not missing


def render_html(doc: dict[str, Any]) -> str:
    by_tag: dict[str, list[str]] = {}
    for path, ops in sorted(doc.get("paths", {}).items()):
        for method, op in ops.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            ref = body.get("$ref", "").rsplit("/", 1)[-1]
            codes = ", ".join(sorted(op.get("responses", {})))
            row = (f"<tr><td><code class=m-{method}>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
                   f"<td>{html.escape(op.get('summary', ''))}<br><small>{html.escape(op.get('description', ''))}</small></td>"
                   f"<td>{('<a href=#s-' + ref + '>' + ref + '</a>') if ref else ''}</td><td><small>{codes}</small></td></tr>")
            by_tag.setdefault((op.get("tags") or ["Other"])[0], []).append(row)
    sections = "".join(
        f"<h2>{html.escape(tag)}</h2><table><tr><th></th><th>Path</th><th>What</th><th>Body</th><th>Answers</th></tr>"
        + "".join(rows) + "</table>" for tag, rows in sorted(by_tag.items())
    )
    schemas = "".join(
        f"<h3 id=s-{html.escape(name)}>{html.escape(name)}</h3><pre>{html.escape(json.dumps(schema, indent=2))}</pre>"
        for name, schema in sorted(doc.get("components", {}).get("schemas", {}).items())
    )
    return f"""<!doctype html><html><head><meta charset=utf-8><title>CRM API</title><style>
body{{font:14px system-ui,sans-serif;margin:2em auto;max-width:1100px;padding:0 1em}}table{{border-collapse:collapse;width:100%}}
td,th{{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}}pre{{background:#f6f8fa;padding:8px}}
.m-get{{color:#2a7}}.m-post{{color:#27c}}.m-patch{{color:#c72}}.m-delete{{color:#c33}}</style></head><body>
<h1>CRM platform API</h1><p>{html.escape(doc.get("info", {}).get("description", ""))}
The machine-readable document is at <a href=/v1/openapi.json>/v1/openapi.json</a> (OpenAPI 3.1).</p>
{sections}<h2>Schemas</h2>{schemas}</body></html>"""
