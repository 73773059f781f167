"""The base app's per-request hooks on their fast paths: cached metric children count exactly what
labels() each time did, the JSON formatter writes the lines the old one wrote, and a service takes
the request id from X-Request-Id (the internal token no longer carries it)."""

from __future__ import annotations

import io
import json
import logging
import sys
import time
import uuid
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from crm_core import context
from crm_core.internal_token import HEADER, InternalTokenSigner, InternalTokenVerifier, generate_keypair
from crm_core.logging import JsonFormatter
from crm_core.scopes import ALL_SCOPES
from crm_http.app import create_base_app
from crm_http.auth import internal_token_auth
from crm_testing.apps import make_settings


def _old_format(service: str, record: logging.LogRecord) -> str:
    """The formatter the fast one replaced, verbatim."""
    tenant = context.current_tenant()
    line = {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
        "level": record.levelname.lower(), "service": service, "logger": record.name, "msg": record.getMessage(),
        "request_id": context.current_request_id(), "tenant_id": str(tenant) if tenant else None,
    }
    for key, value in getattr(record, "fields", {}).items():
        line[key] = value
    if record.exc_info:
        line["exc"] = logging.Formatter().formatException(record.exc_info)
    return json.dumps(line, default=str)


@pytest.mark.parametrize("fields", [None, {}, {"method": "GET", "status": 200, "duration_ms": 1.25},
                                    {"odd": uuid.UUID(int=7), "when": time.gmtime(0), "text": "é\u2028\x00"}])
@pytest.mark.parametrize("tenant", [None, uuid.UUID(int=42)])
def test_json_formatter_writes_what_the_old_one_wrote(fields: dict | None, tenant: uuid.UUID | None) -> None:
    formatter = JsonFormatter("contacts")
    with context.tenant_context(tenant, "req-1"):
        for created in (1_700_000_000.123, 1_700_000_000.999, 1_700_000_001.0, 1_700_000_061.5):
            record = logging.LogRecord("crm.access", logging.INFO, __file__, 1, "%s %s", ("GET", 200), None)
            record.created, record.msecs = created, (created - int(created)) * 1000
            if fields is not None:
                record.fields = fields
            assert formatter.format(record) == _old_format("contacts", record)
        try:
            raise ValueError("boom")
        except ValueError:
            record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
        assert formatter.format(record) == _old_format("contacts", record)


def _sample(route: str, status: str) -> float:
    return REGISTRY.get_sample_value("crm_http_requests_total", {"service": "hooks", "route": route,
                                                                "method": "GET", "status": status}) or 0.0


def test_cached_metric_children_count_every_request_and_the_access_line_is_there(tmp_path: Path) -> None:
    private, public = generate_keypair()
    settings = make_settings("hooks", tmp_path, public_key=public)
    verifier = InternalTokenVerifier.from_pem(public, "hooks")
    app = create_base_app(settings, authenticate=internal_token_auth(verifier))
    seen: dict[str, object] = {}

    @app.get("/v1/things")
    def things() -> dict[str, object]:
        seen["request_id"] = context.current_request_id()
        seen["tenant"] = context.current_tenant()
        return {"ok": True}

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("hooks"))
    logging.getLogger("crm.access").addHandler(handler)
    try:
        client = app.test_client()
        tenant = uuid.uuid4()
        token = InternalTokenSigner.from_pem(private).mint(
            context.Principal(tenant, uuid.uuid4(), ("owner",), ALL_SCOPES), "hooks")
        before_ok, before_401 = _sample("/v1/things", "200"), _sample("/v1/things", "401")
        for i in range(5):
            resp = client.get("/v1/things", headers={HEADER: token, "X-Request-Id": f"gw-{i}"})
            assert resp.status_code == 200
            assert resp.headers["X-Request-Id"] == f"gw-{i}" and seen == {"request_id": f"gw-{i}", "tenant": tenant}
        assert client.get("/v1/things").status_code == 401
        assert _sample("/v1/things", "200") - before_ok == 5
        assert _sample("/v1/things", "401") - before_401 == 1
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert [(x["request_id"], x["status"]) for x in lines[:5]] == [(f"gw-{i}", 200) for i in range(5)]
        assert all(x["tenant_id"] == str(tenant) and x["route"] == "/v1/things" for x in lines[:5])
        # A request id the service would not take (not a plain token) is replaced, as before.
        resp = client.get("/v1/things", headers={HEADER: token, "X-Request-Id": "bad id\x01"})
        assert resp.headers["X-Request-Id"] != "bad id\x01" and len(resp.headers["X-Request-Id"]) >= 16
    finally:
        logging.getLogger("crm.access").removeHandler(handler)
