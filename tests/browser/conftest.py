"""The web console in a real browser: Debian's chromium driven by Playwright (from PyPI; it cannot
download browsers here), against the platform as `make up` runs it (embedded default, workers on),
with the console built from web/ as `make up` builds it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from console_screen import AXE, CHROMIUM, DESKTOP, Screen

from crm_runtime.console_build import ensure_built
from crm_testing.platform import Platform, start_platform
from crm_testing.plugin import missing
from crm_testing.provision import servers_module


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
