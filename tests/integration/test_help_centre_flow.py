"""The help centre end to end on the real stack (PostgreSQL, Kafka, the gateway): a tenant signs
up, the mail service names its mailbox and announces it (crm.mailbox.named), the tickets consumer
maps the name, and /portal/<mailbox>/ serves that tenant's published articles without a login.
A rename moves the help centre; another tenant's customer never sees these articles."""

from __future__ import annotations

import pytest

from crm_testing.platform import Platform, wait_for

pytestmark = pytest.mark.integration


def _mailbox(platform: Platform, token: str) -> str:
    resp = platform.request("GET", "/v1/mail/addresses", token=token)
    assert resp.status == 200, resp.data
    return resp.json()["mailbox"]


def _status(platform: Platform, path: str) -> int:
    return platform.request("GET", path).status


def test_signup_to_public_help_centre(pg_platform: Platform) -> None:
    a = pg_platform.signup("Helpful Widgets")
    b = pg_platform.signup("Other Gadgets")
    ta, tb = a["access_token"], b["access_token"]
    published = pg_platform.request("POST", "/v1/kb/articles", {
        "title": "Reset the widget", "body_markdown": "Hold the **reset** button.\n\n<script>alert(1)</script>",
        "category": "Troubleshooting", "status": "published"}, token=ta)
    assert published.status == 201, published.data
    art = published.json()
    assert pg_platform.request("POST", "/v1/kb/articles", {"title": "Widget internals", "status": "internal"},
                               token=ta).status == 201
    assert pg_platform.request("POST", "/v1/kb/articles", {"title": "Gadget widget secrets", "status": "published"},
                               token=tb).status == 201
    box_a, box_b = _mailbox(pg_platform, ta), _mailbox(pg_platform, tb)
    assert box_a != box_b

    # Open path: no Authorization header at all.
    wait_for(lambda: _status(pg_platform, f"/portal/{box_a}/") == 200, timeout=180, what="help centre of A")
    home = pg_platform.request("GET", f"/portal/{box_a}/")
    page = home.data.decode()
    assert home.headers["Content-Type"].startswith("text/html")
    assert "Reset the widget" in page and "Troubleshooting" in page
    assert "internals" not in page and "Gadget" not in page and "<script>alert" not in page
    assert "default-src 'none'" in home.headers["Content-Security-Policy"]
    article = pg_platform.request("GET", f"/portal/{box_a}/articles/{art['slug']}")
    assert article.status == 200 and "<strong>reset</strong>" in article.data.decode()
    found = pg_platform.request("GET", f"/portal/{box_a}/kb/articles?q=widget").json()["data"]
    assert [d["id"] for d in found] == [art["id"]]  # not the internal one, not B's
    search = pg_platform.request("GET", f"/portal/{box_a}/search?q=widget").data.decode()
    assert "Reset the widget" in search and "Gadget" not in search

    # B's help centre shows B's article and never A's.
    wait_for(lambda: _status(pg_platform, f"/portal/{box_b}/") == 200, timeout=180, what="help centre of B")
    assert _status(pg_platform, f"/portal/{box_b}/articles/{art['slug']}") == 404
    assert _status(pg_platform, f"/portal/{box_b}/articles/{art['id']}") == 404
    assert [d["title"] for d in pg_platform.request("GET", f"/portal/{box_b}/kb/articles?q=widget").json()["data"]] == [
        "Gadget widget secrets"]
    assert _status(pg_platform, "/portal/no-such-mailbox-here/") == 404

    # A rename moves the help centre: the new name answers, the old one stops.
    renamed = f"{box_a}-help"
    resp = pg_platform.request("PATCH", "/v1/mail/addresses", {"mailbox": renamed}, token=ta)
    assert resp.status == 200, resp.data
    wait_for(lambda: _status(pg_platform, f"/portal/{renamed}/") == 200, timeout=180, what="renamed help centre")
    assert _status(pg_platform, f"/portal/{box_a}/") == 404

    # Suggested articles link to the help centre under its current name.
    ticket = pg_platform.request("POST", "/v1/tickets", {"subject": "My widget needs a reset"}, token=ta).json()
    assert ticket["suggested_article_ids"][0] == art["id"]
    suggested = pg_platform.request("GET", f"/v1/tickets/{ticket['id']}/suggested-articles", token=ta).json()["data"]
    assert suggested[0]["help_center_url"].endswith(f"/portal/{renamed}/articles/{art['slug']}")
