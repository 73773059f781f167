"""The merged OpenAPI document and a self-contained HTML rendering of it for /docs (no CDN needed)."""

from __future__ import annotations

import html
import json
import logging
import threading
import time
from typing import Any

from crm_http.openapi import ApiDoc, merge
from gateway.proxy import Router

log = logging.getLogger(__name__)


class OpenApiCache:
    """Each service publishes its fragment at /openapi.json; the gateway merges them (cached briefly)."""

    def __init__(self, own: ApiDoc, router: Router, ttl: float = 60.0) -> None:
        self.own = own.spec()
        self.router = router
        self.ttl = ttl
        self._doc: dict[str, Any] | None = None
        self._at = 0.0
        self._lock = threading.Lock()

    def document(self) -> dict[str, Any]:
        with self._lock:
            if self._doc is None or time.monotonic() - self._at > self.ttl:
                self._doc, self._at = self._build(), time.monotonic()
            return self._doc

    def _build(self) -> dict[str, Any]:
        fragments, missing = [self.own], []
        seen: set[str] = set()
        for route in self.router.routes:
            if route.base_url in seen:
                continue
            seen.add(route.base_url)
            try:
                resp = self.router.pool.request("GET", route.base_url + "/openapi.json", timeout=2.0, retries=False)
                if resp.status != 200:
                    raise RuntimeError(f"status {resp.status}")
                fragments.append(json.loads(resp.data))
            except Exception as exc:  # a service being down must not take the docs down
                log.warning("no OpenAPI fragment from %s: %s", route.service, exc)
                missing.append(route.service)
        doc = merge("CRM platform API", fragments)
        doc["info"]["description"] = "Multi-tenant CRM. Authenticate with `Authorization: Bearer <token or API key>`."
        if missing:
            doc["info"]["x-unavailable-services"] = sorted(set(missing))
            self._at = 0.0  # incomplete: try again on the next request
        return doc


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
