"""Building blocks of the isolation attack suite (test_isolation_attack.py).

Probes are generated from the gateway's OpenAPI document, so an endpoint added later is probed
without touching this file: every `{param}` of a path is filled from the ids seeded in tenant A,
looked up by the path's resource (the path up to the parameter, earlier parameters as `{}`).
A resource nobody seeded still gets probed with all of A's ids and is listed as unseeded.

A probe is judged three ways: its status must be one the category allows, it must answer like
the same request about a record that does not exist (a random id, or a tenant C with no data),
and its body must not contain any of A's ids, emails, names or marker strings, other than what
the probe itself sent.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest
import urllib3

# Where the test module leaves its runner for the terminal summary (conftest.py beside this file).
STATS = pytest.StashKey[dict[str, Any]]()
DENIED = frozenset({401, 403, 404})
MALFORMED = frozenset({400, 422})
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


# ---------------------------------------------------------------- tenants and their seeded data

@dataclass
class Tenant:
    label: str
    tenant_id: str
    user_id: str
    email: str
    token: str
    key: str = ""
    key_id: str = ""
    marker: str = ""
    # resource (canonical path prefix, e.g. "/v1/contacts/{}/activities") -> ids, best first
    slots: dict[str, list[str]] = field(default_factory=dict)
    # ids of every record the tenant holds, any kind (strings found in any answer)
    ids: set[str] = field(default_factory=set)
    # unique strings: emails, names, domains, phones, custom field keys, secrets
    strings: set[str] = field(default_factory=set)
    # list operation path -> a next_cursor minted by this tenant
    cursors: dict[str, str] = field(default_factory=dict)
    # parent resource -> child id -> the parent id it belongs to
    parents: dict[str, dict[str, str]] = field(default_factory=dict)

    def credentials(self) -> dict[str, str]:
        return {"user": self.token, "api_key": self.key}

    def add(self, slot: str, record_id: str, parent: str | None = None) -> None:
        self.slots.setdefault(slot, []).append(record_id)
        self.ids.add(record_id)
        if parent is not None:
            self.parents.setdefault(slot, {})[record_id] = parent

    def markers(self) -> set[str]:
        out = {s.lower() for s in self.strings if s}
        out |= {i.lower() for i in self.ids}
        out |= {self.tenant_id.lower(), self.user_id.lower(), self.email.lower()}
        if self.marker:
            out.add(self.marker.lower())
        return {m for m in out if len(m) >= 8}


def canonical(path: str, upto_param: str) -> str:
    """`/v1/webhooks/{record_id}/deliveries/{delivery_id}`, "delivery_id" -> `/v1/webhooks/{}/deliveries`."""
    head = path.split("{" + upto_param + "}", 1)[0].rstrip("/")
    return re.sub(r"\{[^}]+\}", "{}", head)


def path_params(path: str) -> list[str]:
    return re.findall(r"\{([^}]+)\}", path)


# ---------------------------------------------------------------- the OpenAPI document

@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    op: dict[str, Any]

    @property
    def params(self) -> list[dict[str, Any]]:
        return self.op.get("parameters", [])

    def query_params(self) -> list[dict[str, Any]]:
        return [p for p in self.params if p.get("in") == "query"]

    def param_schema(self, name: str) -> dict[str, Any]:
        for p in self.params:
            if p.get("name") == name:
                return p.get("schema", {})
        return {}

    def json_body_schema(self) -> dict[str, Any] | None:
        content = self.op.get("requestBody", {}).get("content", {})
        return content.get("application/json", {}).get("schema")

    def takes_body(self) -> bool:
        return "requestBody" in self.op

    def is_list(self, doc: OpenApi) -> bool:
        if self.method != "get":
            return False
        for code, resp in self.op.get("responses", {}).items():
            if code.startswith("2"):
                schema = doc.resolve(resp.get("content", {}).get("application/json", {}).get("schema", {}))
                if "data" in schema.get("properties", {}) and "next_cursor" in schema.get("properties", {}):
                    return True
        return False

    def list_item_schema(self, doc: OpenApi) -> dict[str, Any]:
        for code, resp in self.op.get("responses", {}).items():
            if code.startswith("2"):
                schema = doc.resolve(resp.get("content", {}).get("application/json", {}).get("schema", {}))
                return doc.resolve(schema.get("properties", {}).get("data", {}).get("items", {}))
        return {}


class OpenApi:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc

    def operations(self) -> list[Operation]:
        out = []
        for path, ops in self.doc.get("paths", {}).items():
            for method, op in ops.items():
                if method in {"get", "post", "put", "patch", "delete"}:
                    out.append(Operation(method, path, op))
        return out

    def resolve(self, schema: Any) -> dict[str, Any]:
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < 20:
            name = schema["$ref"].rsplit("/", 1)[-1]
            schema = self.doc["components"]["schemas"][name]
            seen += 1
        if isinstance(schema, dict) and "anyOf" in schema:
            for option in schema["anyOf"]:
                resolved = self.resolve(option)
                if resolved.get("type") != "null":
                    return resolved
        return schema if isinstance(schema, dict) else {}


def _types(schema: dict[str, Any]) -> set[str]:
    t = schema.get("type")
    if isinstance(t, list):
        return set(t) - {"null"}
    return {t} if t else set()


# Which resource a body or query field names (contact_id -> contacts); unknown fields get any id.
FIELD_RESOURCES = {
    "contact_id": "/v1/contacts", "company_id": "/v1/companies", "company_ids": "/v1/companies",
    "deal_id": "/v1/deals", "pipeline_id": "/v1/pipelines", "stage_id": "stages", "ticket_id": "/v1/tickets",
    "owner_id": "/v1/users", "assignee_id": "/v1/users", "author_id": "/v1/users", "user_id": "/v1/users",
    "webhook_id": "/v1/webhooks", "campaign_id": "/v1/campaigns", "task_id": "/v1/tasks",
    "primary_id": "/v1/contacts", "secondary_id": "/v1/contacts", "merged_id": "/v1/contacts",
}


class BodyMaker:
    """A small valid JSON body for a schema: required fields (and for updates one harmless field),
    ids taken from the caller's own tenant so that only the id under test is foreign."""

    def __init__(self, doc: OpenApi, own: Tenant) -> None:
        self.doc, self.own = doc, own

    def own_id(self, field_name: str, path: str = "") -> str:
        slot = FIELD_RESOURCES.get(field_name)
        if field_name in {"primary_id", "secondary_id", "merged_id"} and "/companies" in path:
            slot = "/v1/companies"
        ids = self.own.slots.get(slot or "", [])
        return ids[0] if ids else str(uuid.uuid4())

    def make(self, schema: Any, path: str, *, partial: bool = False, depth: int = 0) -> Any:
        schema = self.doc.resolve(schema)
        types = _types(schema)
        if "enum" in schema:
            values = [v for v in schema["enum"] if v is not None]
            return values[0] if values else None
        if "object" in types or "properties" in schema:
            props = schema.get("properties", {})
            required = list(schema.get("required", []))
            if partial and not required:
                plain = [k for k, v in props.items() if "string" in _types(self.doc.resolve(v))
                         and "format" not in self.doc.resolve(v) and "enum" not in self.doc.resolve(v)
                         and k not in {"filter", "url"}]
                required = plain[:1] or list(props)[:1]
            if not partial:
                required += [k for k in ("subject", "body") if k in props and k not in required]
            out = {}
            for name in required:
                if name in props and depth < 4:
                    out[name] = self.value(name, props[name], path, depth)
            return out
        return self.value("", schema, path, depth)

    def value(self, name: str, schema: Any, path: str, depth: int) -> Any:
        schema = self.doc.resolve(schema)
        types = _types(schema)
        fmt = schema.get("format")
        if "enum" in schema:
            values = [v for v in schema["enum"] if v is not None]
            return values[0] if values else None
        if name == "url":
            return "http://127.0.0.1:9/probe"
        if name == "event_types":
            return ["crm.contact.created"]
        if name == "filter":
            return "lead_score >= 0"
        if name == "stages":
            return [{"name": "Probe stage", "probability": 10, "kind": "open"}]
        if name == "amount":
            return {"amount": "10.00", "currency": "EUR"}
        if "array" in types:
            items = schema.get("items", {})
            return [self.value(name[:-1] if name.endswith("s") else name, items, path, depth + 1)]
        if "object" in types or "properties" in schema:
            return self.make(schema, path, depth=depth + 1)
        if "integer" in types or "number" in types:
            return max(1, int(schema.get("minimum", 1) or 1))
        if "boolean" in types:
            return False
        if fmt == "uuid":
            return self.own_id(name, path)
        if fmt == "email":
            return f"mallory-{uuid.uuid4().hex[:8]}@b.example"
        if fmt == "date-time":  # tomorrow: a snooze or a meeting must lie ahead
            return (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
        if fmt == "date":
            return dt.date.today().isoformat()
        if str(schema.get("pattern", "")).startswith("^-?\\d"):
            return "1"  # a decimal sent as a string (crm_http.openapi.decimal_string)
        return "Mallory"


# ---------------------------------------------------------------- probes and their verdicts

@dataclass
class Probe:
    category: str
    method: str
    url: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | None = None
    allowed: frozenset[int] = DENIED
    # probes sharing a baseline key must answer with the baseline's status
    baseline: str | None = None
    is_baseline: bool = False
    # a 200 list answer is checked for records of the victim by id (beyond the marker scan)
    lists: bool = False
    # a 400/422 is fine when the same call about nothing gets it too: the body was refused before any lookup
    malformed_like_baseline: bool = False
    # a write whose success stores the ids it names in the caller's own records
    plants: bool = False
    note: str = ""

    def sent(self) -> set[str]:
        """Strings this probe sent: an answer may echo them without leaking anything."""
        parts = urlsplit(self.url)
        out = {unquote(seg) for seg in parts.path.split("/") if seg}
        for pair in parts.query.split("&"):
            if "=" in pair:
                out.add(unquote(pair.split("=", 1)[1].replace("+", " ")))
        out |= {v for _, v in self.headers}
        if self.body:
            try:
                out |= set(_strings(json.loads(self.body)))
            except ValueError:
                out.add(self.body.decode("utf-8", "replace"))
        expanded = set()
        for s in out:
            # an answer naming a word of the request (an unknown field, a quoted value) echoes it
            expanded |= {s, *UUID_RE.findall(s.lower()), *re.findall(r"'([^']*)'", s), *re.findall(r"[\w.@+-]{8,}", s)}
        return {s for s in expanded if s}


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


@dataclass
class Answer:
    status: int
    body: bytes


@dataclass
class Finding:
    probe: Probe
    status: int
    why: str
    excerpt: str

    def __str__(self) -> str:
        return f"[{self.probe.category}] {self.probe.method} {self.probe.url} ({self.probe.note}) -> {self.status}: {self.why}\n    {self.excerpt}"


class Runner:
    """Sends probes concurrently and judges them; counts per category."""

    def __init__(self, victim: Tenant, workers: int = 12) -> None:
        self.victim = victim
        self.markers = sorted(victim.markers(), key=len, reverse=True)
        self.http = urllib3.PoolManager(num_pools=16, maxsize=workers * 2, block=True, retries=False,
                                        timeout=urllib3.Timeout(connect=5.0, read=60.0))
        self.workers = workers
        self.counts: Counter[str] = Counter()
        self.statuses: Counter[tuple[str, int]] = Counter()
        self.findings: list[Finding] = []
        self.baselines: dict[str, Answer] = {}
        self.lock = threading.Lock()
        self.throttled = 0
        self.elapsed: Counter[str] = Counter()
        # A's ids that B itself stored in its own records (a deal of B's naming A's contact id, accepted
        # like any unknown id): B knows them, so B's own records showing them leak nothing
        self.planted: set[str] = set()

    def send(self, probe: Probe) -> Answer:
        headers = urllib3.HTTPHeaderDict()
        for k, v in probe.headers:
            headers.add(k, v)
        if probe.body is not None and not any(k.lower() == "content-type" for k, _ in probe.headers):
            headers.add("Content-Type", "application/json")
        for attempt in range(8):
            resp = self.http.request(probe.method, probe.url, body=probe.body, headers=headers, redirect=False)
            if resp.status != 429:
                return Answer(resp.status, resp.data)
            with self.lock:
                self.throttled += 1
            time.sleep(min(0.5, 0.05 * 2 ** attempt))
        return Answer(resp.status, resp.data)

    def leaked(self, probe: Probe, body: bytes) -> str | None:
        text = body.decode("utf-8", "replace").lower()
        for s in sorted(probe.sent(), key=len, reverse=True):
            s = s.lower()
            text = text.replace(s, "").replace(json.dumps(s)[1:-1], "")
        for m in self.markers:
            if m in text and m not in self.planted:
                return m
        return None

    def judge(self, probe: Probe, answer: Answer) -> list[str]:
        problems = []
        if answer.status >= 500:
            problems.append(f"server error {answer.status}")
        base = self.baselines.get(probe.baseline) if probe.baseline is not None and not probe.is_baseline else None
        named = {s.lower() for s in probe.sent()} & {i.lower() for i in self.victim.ids}
        if named and named <= self.planted and answer.status in (200, 409):
            # B stored these ids of A's in B's own records (accepted like any unknown id): B's own
            # record answering, or refusing to store it twice, tells B nothing; the body scan still runs
            base, probe = None, Probe(probe.category, probe.method, probe.url, allowed=probe.allowed | {200, 409},
                                      lists=probe.lists, note=probe.note)
        if answer.status >= 500:
            pass
        elif answer.status not in probe.allowed and not (
                probe.malformed_like_baseline and answer.status in MALFORMED and base is not None and base.status == answer.status):
            problems.append(f"status {answer.status} not in {sorted(probe.allowed)}")
        if base is not None:
            if base.status != answer.status:
                problems.append(f"answers {answer.status} where the same call about nothing answers {base.status}")
        marker = self.leaked(probe, answer.body)
        if marker is not None:
            problems.append(f"body contains A's {marker!r}")
        if probe.lists and answer.status == 200:
            try:
                listed = {str(r.get("id")) for r in json.loads(answer.body).get("data", []) if isinstance(r, dict)}
            except (ValueError, AttributeError):
                listed = set()
            foreign = listed & self.victim.ids
            if foreign:
                problems.append(f"lists A's records: {sorted(foreign)[:3]}")
        return problems

    def run(self, probes: Iterable[Probe]) -> list[tuple[Probe, Answer]]:
        probes = list(probes)
        firsts = [p for p in probes if p.is_baseline]
        rest = [p for p in probes if not p.is_baseline]
        results: list[tuple[Probe, Answer]] = []
        started = time.monotonic()
        # One access-log line per request and service is most of the CPU a probe costs in this process
        access_log = logging.getLogger("crm.access")
        level = access_log.level
        access_log.setLevel(logging.WARNING)
        try:
            for batch in (firsts, rest):
                with ThreadPoolExecutor(self.workers) as pool:
                    answers = list(pool.map(self.send, batch))
                self._record_batch(batch, answers, results)
        finally:
            access_log.setLevel(level)
        if probes:
            self.elapsed[probes[0].category] += time.monotonic() - started
        return results

    def _record_batch(self, batch: list[Probe], answers: list[Answer], results: list[tuple[Probe, Answer]]) -> None:
        # what B planted in this batch first: of two concurrent probes adding the same id, the one
        # judged first may be the one that found it already there (409)
        with self.lock:
            for probe, answer in zip(batch, answers, strict=True):
                if probe.plants and 200 <= answer.status < 300:
                    self.planted |= probe.sent() & self.victim.ids
        for probe, answer in zip(batch, answers, strict=True):
            if probe.is_baseline and probe.baseline is not None:
                self.baselines[probe.baseline] = answer
            self.record(probe, answer)
            results.append((probe, answer))

    def record(self, probe: Probe, answer: Answer) -> None:
        with self.lock:
            if not probe.is_baseline:
                self.counts[probe.category] += 1
            self.statuses[(probe.category, answer.status)] += 1
            if probe.plants and 200 <= answer.status < 300:
                self.planted |= probe.sent() & self.victim.ids
            for why in self.judge(probe, answer):
                self.findings.append(Finding(probe, answer.status, why, answer.body[:300].decode("utf-8", "replace")))

    def check_body(self, category: str, what: str, body: bytes, sent: Iterable[str] = ()) -> None:
        """A body obtained outside a probe (a webhook delivery, an export file): judged for A's data."""
        probe = Probe(category, "GET", what, headers=[("x-sent", s) for s in sent], allowed=frozenset({200}))
        self.record(probe, Answer(200, body))


# ---------------------------------------------------------------- forged internal tokens

def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def claims_for(tenant: Tenant, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    from crm_core.scopes import ALL_SCOPES
    claims: dict[str, Any] = {"iss": "crm-gateway", "aud": "crm-internal", "iat": now, "exp": now + 60,
                              "tid": tenant.tenant_id, "sub": tenant.user_id, "key": "", "roles": ["owner"],
                              "scp": list(ALL_SCOPES), "rid": "isolation-probe"}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def sign_eddsa(private_key: Any, claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    head = b64(json.dumps(header or {"alg": "EdDSA", "typ": "JWT"}, separators=(",", ":")).encode())
    if header is None:
        head = "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9"  # the gateway's exact header bytes
    signing_input = f"{head}.{b64(json.dumps(claims, separators=(',', ':')).encode())}"
    return f"{signing_input}.{b64(private_key.sign(signing_input.encode()))}"


def sign_hs256(secret: bytes, claims: dict[str, Any]) -> str:
    import hashlib
    import hmac
    head = b64(b'{"alg":"HS256","typ":"JWT"}')
    signing_input = f"{head}.{b64(json.dumps(claims, separators=(',', ':')).encode())}"
    return f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def unsigned(claims: dict[str, Any]) -> str:
    return f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims).encode())}."


def retarget(token: str, **claims: Any) -> str:
    """A genuine token with its claims changed and the original signature kept."""
    head, payload, sig = token.split(".")
    body = json.loads(unb64(payload))
    body.update(claims)
    return f"{head}.{b64(json.dumps(body, separators=(',', ':')).encode())}.{sig}"


# ---------------------------------------------------------------- small HTTP helpers

def q(value: str) -> str:
    return quote(value, safe="")


def json_body(value: Any) -> bytes:
    return json.dumps(value).encode()


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
