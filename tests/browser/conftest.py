"""The web console in a real browser: Debian's chromium driven by Playwright (from PyPI; it cannot
download browsers here), against the platform as `make up` runs it (embedded default, workers on),
with the console built from web/ as `make up` builds it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crm_core.settings import REPO_ROOT
from crm_runtime.console_build import ensure_built
from crm_testing.platform import Platform, start_platform
from crm_testing.plugin import missing
from crm_testing.provision import servers_module

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = REPO_ROOT / "var" / "screenshots"
AXE = REPO_ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's chromium, installed with apt-get when missing (as PostgreSQL is)."""
    if not Path(CHROMIUM).exists():
        try:
            servers_module()._apt_install("chromium")
        except Exception as exc:
            missing(f"chromium is needed for the browser tests: {exc}")
    return CHROMIUM


@pytest.fixture(scope="session")
def console_built() -> None:
    if shutil.which("npm") is None:
        missing("npm is needed to build the web console")
    ensure_built(log=False)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, console_built: None) -> Iterator[Platform]:
    started = start_platform(tmp_path_factory.mktemp("console"), CRM_RATE_LIMIT_ANONYMOUS_BURST="1000",
                             CRM_RATE_LIMIT_BAD_CREDENTIALS_BURST="1000")
    started.start_workers()
    yield started
    started.close()


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium_path, args=["--no-sandbox", "--disable-gpu"])
        yield launched
        launched.close()


class Screen:
    """A browser tab on the console, with the checks every screen gets: no serious or critical
    axe-core violation (WCAG 2.1 A and AA), no failed script, and a screenshot."""

    def __init__(self, context: Any, base_url: str) -> None:
        self.context, self.base_url = context, base_url
        self.page = context.new_page()
        self.script_errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.script_errors.append(str(exc)))

    def goto(self, path: str) -> Any:
        self.page.goto(self.base_url + path)
        return self.page

    def audit(self, name: str) -> None:
        self.page.wait_for_load_state("networkidle")
        violations = self.page.evaluate(
            """async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}))
                 .violations.filter(v => ['serious', 'critical'].includes(v.impact))
                 .map(v => `${v.id}: ${v.help} at ${v.nodes.map(n => n.target.join(' ')).join(', ')}`)""")
        size = self.page.viewport_size
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)  # first, so that a failing screen can be looked at
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}-{size['width']}x{size['height']}.png"), full_page=True)
        assert violations == [], f"{name}: {violations}"
        assert self.script_errors == [], f"{name}: {self.script_errors}"


@pytest.fixture
def open_screen(browser: Any, platform: Platform) -> Iterator[Any]:
    contexts: list[Any] = []

    def open_(viewport: dict[str, int] = DESKTOP) -> Screen:
        context = browser.new_context(viewport=viewport)
        # axe-core in every page before its own scripts (an init script, so the CSP still applies to the page)
        context.add_init_script(path=str(AXE))
        contexts.append(context)
        return Screen(context, platform.gateway_url)

    yield open_
    for context in contexts:
        context.close()
