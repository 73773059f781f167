"""The console is built only on the public API, and the build proves it: the committed OpenAPI
document and the client types generated from it match what the services publish now, the app
type-checks (TypeScript strict) against them, and its unit tests (Vitest) pass. The gateway serves
it with a strict CSP and cache headers, and never in place of the API."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from crm_core.settings import REPO_ROOT
from crm_testing.platform import Platform

WEB = REPO_ROOT / "web"
REGENERATE = "run: .venv/bin/python scripts/openapi_dump.py web/openapi.json && (cd web && npm run gen)"


def _npx(*args: str, cwd: Path = WEB) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["npx", "--no-install", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_the_committed_api_document_and_client_types_are_current(platform: Platform, tmp_path: Path,
                                                                 console_built: None) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("openapi_dump", REPO_ROOT / "scripts" / "openapi_dump.py")
    assert spec and spec.loader
    dump = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dump)
    live = platform.request("GET", "/v1/openapi.json").json()
    committed = (WEB / "openapi.json").read_text(encoding="utf-8")
    assert dump.render(live) == committed, "web/openapi.json is not what the services publish; " + REGENERATE
    generated = tmp_path / "schema.d.ts"
    done = _npx("openapi-typescript", "openapi.json", "-o", str(generated))
    assert done.returncode == 0, done.stderr
    assert generated.read_text() == (WEB / "src" / "api" / "schema.d.ts").read_text(), REGENERATE


def test_typescript_strict_and_the_unit_tests(console_built: None) -> None:
    config = json.loads((WEB / "tsconfig.json").read_text())
    assert config["compilerOptions"]["strict"] is True
    typecheck = _npx("tsc", "--noEmit", "-p", ".")
    assert typecheck.returncode == 0, typecheck.stdout[-3000:]
    unit = _npx("vitest", "run")
    assert unit.returncode == 0, unit.stdout[-3000:] + unit.stderr[-2000:]
    assert "failed" not in unit.stdout.lower()


def test_the_gateway_serves_the_console_safely(platform: Platform) -> None:
    page = platform.request("GET", "/pipeline", headers={"Accept": "text/html"})
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert page.headers["Cache-Control"] == "no-cache"
    asset = next(p for p in (WEB / "dist" / "assets").iterdir() if p.suffix == ".js")
    resp = platform.request("GET", f"/assets/{asset.name}")
    assert resp.status == 200 and resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert resp.headers["Content-Type"].startswith("text/javascript")
    # The page names its icon, which is served: a browser asking /favicon.ico unauthenticated on
    # every load spent the client's bad-credentials budget (20 loads, then 429s).
    assert 'rel="icon" href="/favicon.svg"' in page.data.decode()
    icon = platform.request("GET", "/favicon.svg")
    assert icon.status == 200 and icon.headers["Content-Type"].startswith("image/svg+xml")
    # Never in place of the API, the docs or a missing file
    api = platform.request("GET", "/v1/contacts", headers={"Accept": "text/html"})
    assert api.status == 401 and api.headers["Content-Type"] == "application/problem+json"
    assert platform.request("GET", "/assets/nothing-here.js").status in (401, 404)
    assert platform.request("GET", "/assets/%2e%2e/index.html").status in (400, 401, 404)
    assert platform.request("GET", "/docs").headers["Content-Type"].startswith("text/html")
    # A script asking for JSON at a console path gets the API's answer, not the page
    assert platform.request("GET", "/contacts", headers={"Accept": "application/json"}).status in (401, 404)


@pytest.mark.parametrize("path", ["/", "/contacts/123", "/tickets"])
def test_every_screen_path_loads_the_app(platform: Platform, path: str) -> None:
    resp = platform.request("GET", path, headers={"Accept": "text/html,application/xhtml+xml"})
    assert resp.status == 200 and b'<div id="root"></div>' in resp.data
