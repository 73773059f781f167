"""Isolation through the console: a user of tenant B who edits URLs to name tenant A's records
(every record page and every list with A's words in its search or filter) sees nothing of A, not on
the page and not in any answer the API gave B's browser."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import quote

import pytest
from console_screen import PHONE
from console_screen import sign_in as _sign_in

from crm_testing.platform import Platform

pytestmark = pytest.mark.integration


def _made(platform: Platform, token: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = platform.request("POST", path, body, token=token)
    assert resp.status in (200, 201), (path, resp.status, resp.data[:300])
    return resp.json()


@pytest.fixture(scope="module")
def tenant_a(platform: Platform) -> dict[str, Any]:
    """Tenant A's records of every kind the console shows, each carrying a word only A uses."""
    marker = f"Zq{uuid.uuid4().hex[:10]}"
    owner = platform.signup(f"{marker} Co")
    token = owner["access_token"]
    company = _made(platform, token, "/v1/companies", {"name": f"{marker} Holdings"})
    contact = _made(platform, token, "/v1/contacts", {"first_name": marker, "last_name": "Secret",
                                                      "email": f"{marker.lower()}@example.com", "company_id": company["id"]})
    deal = _made(platform, token, "/v1/deals", {"name": f"{marker} deal"})
    ticket = _made(platform, token, "/v1/tickets", {"subject": f"{marker} ticket", "requester_email": contact["email"]})
    article = _made(platform, token, "/v1/kb/articles", {"title": f"{marker} article", "body_markdown": f"{marker} body"})
    return {"marker": marker, "contact": contact, "company": company, "deal": deal, "ticket": ticket, "article": article}


@pytest.mark.parametrize("viewport", [None, PHONE], ids=["desktop", "phone"])
def test_b_editing_urls_sees_nothing_of_a(platform: Platform, tenant_a: dict[str, Any], open_screen: Any,
                                          viewport: dict[str, int] | None) -> None:
    marker = tenant_a["marker"]
    b = platform.signup("Bystander Co")
    screen = open_screen(viewport) if viewport else open_screen()
    answers: list[tuple[str, bytes]] = []

    def keep(response: Any) -> None:
        if "/v1/" in response.url:
            try:
                answers.append((response.url, response.body()))
            except Exception:  # noqa: BLE001 - a redirect or an aborted request has no body
                pass

    screen.page.on("response", keep)
    page = _sign_in(screen, b)
    q = quote(marker)
    urls = [f"/contacts/{tenant_a['contact']['id']}", f"/companies/{tenant_a['company']['id']}",
            f"/deals/{tenant_a['deal']['id']}", f"/tickets/{tenant_a['ticket']['id']}", f"/kb/{tenant_a['article']['id']}",
            f"/contacts?q={q}", f"/companies?q={q}", f"/pipeline?filter={quote(f'name contains {chr(39)}{marker}{chr(39)}')}",
            f"/tickets?q={q}", f"/kb?q={q}", "/my-day", "/forecast"]
    for url in urls:
        screen.goto(url)
        page.wait_for_load_state("networkidle")
        assert marker not in page.inner_text("body"), url  # (the search box itself holds it on list pages)
        assert not re.search(r"something went wrong", page.inner_text("body"), re.I), url
    leaked = [url for url, body in answers if marker.encode() in body]
    assert leaked == [], leaked
    assert len(answers) > len(urls)  # the pages did ask the API
    assert screen.script_errors == []
