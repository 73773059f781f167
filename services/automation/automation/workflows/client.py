"""The owning services' APIs, as a workflow calls them: an internal token for the run's tenant
(the `workflow` principal), the run's origin and causation chain, an idempotency key per action.

A workflow never reads or writes another service's database: every record it looks at or changes
goes through the same HTTP routes a partner uses (behind the gateway) with the same tenant scoping
and row-level security, so a crafted filter or template can reach nothing of another tenant.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import urllib3

from crm_core.context import WORKFLOW_ROLE, Principal
from crm_core.internal_token import CAUSATION_HEADER, HEADER, ORIGIN_HEADER, InternalTokenSigner, TokenCache
from crm_core.settings import Settings
from crm_runtime.catalog import BY_NAME

SCOPES = tuple(f"{area}:{mode}" for area in ("contacts", "pipeline", "tickets", "campaigns", "reports", "automation", "mail")
               for mode in ("read", "write"))

# record type -> (service, collection path)
RECORDS: dict[str, tuple[str, str]] = {
    "contact": ("contacts", "/v1/contacts"),
    "company": ("contacts", "/v1/companies"),
    "deal": ("pipeline", "/v1/deals"),
    "ticket": ("tickets", "/v1/tickets"),
}


class ServiceUnavailableError(Exception):
    """The owning service did not answer (or answered 5xx): the step is retried."""


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def problem(self) -> str:
        """A one-line account of a 4xx problem+json answer (title, detail, field errors)."""
        body = self.body if isinstance(self.body, dict) else {}
        parts = [str(body.get("detail") or body.get("title") or f"HTTP {self.status}")]
        for name, messages in (body.get("errors") or {}).items():
            parts.append(f"{name}: {'; '.join(map(str, messages if isinstance(messages, list) else [messages]))}")
        return " ".join(parts)


class ServiceApi:
    """One per process: pooled connections to every service, tokens cached per tenant."""

    def __init__(self, settings: Settings, *, timeout: float = 10.0) -> None:
        if not settings.internal_private_key:
            raise RuntimeError("workflows need CRM_INTERNAL_PRIVATE_KEY(_FILE) to act through the services' APIs")
        self.tokens = TokenCache(InternalTokenSigner.from_pem(settings.internal_private_key), reuse_seconds=20.0)
        self.base_urls = {name: (settings.get(f"CRM_{name.upper()}_URL", f"http://127.0.0.1:{info.web_port}") or "").rstrip("/")
                          for name, info in BY_NAME.items()}
        self.http = urllib3.PoolManager(maxsize=16, retries=False, timeout=urllib3.Timeout(connect=2.0, read=timeout))

    def request(self, tenant_id: uuid.UUID, service: str, method: str, path: str, body: Any = None, *,
                params: dict[str, Any] | None = None, idempotency_key: str | None = None,
                causation: Sequence[str] = (), if_match: str | None = None) -> ApiResponse:
        principal = Principal(tenant_id=tenant_id, roles=(WORKFLOW_ROLE,), scopes=SCOPES)
        headers = {HEADER: self.tokens.token(principal, service), "Accept": "application/json",
                   ORIGIN_HEADER: "workflow", CAUSATION_HEADER: ",".join(causation)}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if if_match:
            headers["If-Match"] = if_match
        payload = None
        if body is not None:
            payload = json.dumps(body, default=str).encode()
            headers["Content-Type"] = "application/json"
        url = self.base_urls[service] + path + (("?" + urlencode(params)) if params else "")
        try:
            resp = self.http.request(method, url, body=payload, headers=headers)
        except urllib3.exceptions.HTTPError as exc:
            raise ServiceUnavailableError(f"{service} did not answer: {exc}") from exc
        if resp.status >= 500 or resp.status == 429:
            raise ServiceUnavailableError(f"{service} answered {resp.status} to {method} {path}")
        try:
            parsed = json.loads(resp.data) if resp.data else None
        except ValueError:
            parsed = resp.data.decode(errors="replace")
        return ApiResponse(resp.status, parsed, {k.lower(): v for k, v in resp.headers.items()})

    def record(self, tenant_id: uuid.UUID, record_type: str, record_id: str) -> dict[str, Any] | None:
        """The record as its service shows it now; None when it is gone (or never was this tenant's)."""
        service, path = RECORDS[record_type]
        resp = self.request(tenant_id, service, "GET", f"{path}/{quote(str(record_id), safe='')}")
        if resp.status in (404, 410):
            return None
        if not resp.ok:
            raise ServiceUnavailableError(f"{record_type} {record_id}: {resp.problem()}")
        return resp.body if isinstance(resp.body, dict) else None

    def filter_problem(self, tenant_id: uuid.UUID, record_type: str, text: str) -> str | None:
        """Why the owning service refuses `text` as a filter of its records (None: it is good)."""
        service, path = RECORDS[record_type]
        resp = self.request(tenant_id, service, "GET", path, params={"filter": text, "limit": 1})
        return None if resp.ok else resp.problem()

    def matches(self, tenant_id: uuid.UUID, record_type: str, record_id: str, text: str) -> bool:
        """Whether the record matches the filter text, as its own list would say (custom fields included)."""
        service, path = RECORDS[record_type]
        quoted = str(record_id).replace("'", "''")  # an id from a webhook body is anyone's text
        resp = self.request(tenant_id, service, "GET", path,
                            params={"filter": f"id = '{quoted}' and ({text})", "limit": 1})
        if not resp.ok:
            raise ServiceUnavailableError(f"filter on {record_type}: {resp.problem()}")
        return bool((resp.body or {}).get("data"))

    def select_ids(self, tenant_id: uuid.UUID, record_type: str, text: str | None, limit: int) -> list[str]:
        """Ids of the records the filter selects, oldest first, at most `limit` (cursor pages)."""
        service, path = RECORDS[record_type]
        ids: list[str] = []
        cursor: str | None = None
        while len(ids) < limit:
            params: dict[str, Any] = {"limit": min(200, limit - len(ids)), "sort": "created_at"}
            if text:
                params["filter"] = text
            if cursor:
                params["cursor"] = cursor
            resp = self.request(tenant_id, service, "GET", path, params=params)
            if not resp.ok:
                raise ServiceUnavailableError(f"select {record_type}: {resp.problem()}")
            ids += [str(r["id"]) for r in resp.body.get("data", [])]
            cursor = (resp.body.get("next_cursor") or None)
            if not cursor:
                break
        return ids

    def close(self) -> None:
        self.http.clear()
