"""What every browser test uses: the two screen sizes, and Screen, a tab on the console with the
checks every screen gets. A module of its own (not conftest.py): `from conftest import` finds
whichever conftest was imported last when several directories are collected together."""

from __future__ import annotations

import re
from typing import Any

from crm_core.settings import REPO_ROOT

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = REPO_ROOT / "var" / "screenshots"
AXE = REPO_ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


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


def api(platform: Any, token: str, method: str, path: str, body: Any = None, **headers: str) -> Any:
    """Seed or check through the public API: the answer's JSON, asserting it succeeded."""
    resp = platform.request(method, path, body, token=token, headers=headers)
    assert resp.status < 300, (path, resp.status, resp.data[:500])
    return resp.json() if resp.data else None


def sign_in(screen: Screen, account: dict[str, Any], path: str = "/") -> Any:
    """Sign in through the sign-in screen (any console path sends a signed-out user there)."""
    page = screen.goto(path)
    page.wait_for_url(re.compile(r"/signin"))
    page.get_by_label("Email").fill(account["email"])
    page.get_by_label("Password").fill(account["password"])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Contacts", exact=True).wait_for()
    return page
