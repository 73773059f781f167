"""Knowledge base: articles CRUD, rendering and sanitising, ranked search, filters, suggested
articles on new tickets, tenant isolation; each case on the embedded database (SQLite FTS5) and on
PostgreSQL (full-text search, app role under RLS)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

import tickets
from crm_events.tables import event_tables
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, make_harness, pg_harness
from tickets.app import create_app
from tickets.models import metadata

LINK = re.compile(r'<(?:a|img)\b[^>]*?(?:href|src)="([^"]*)"')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def kb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServiceHarness]:
    if request.param == "sqlite":
        yield make_harness("tickets", create_app, metadata(), migrations_dir(tickets.__file__), tmp_path)
        return
    yield from pg_harness("tickets", create_app, metadata(), migrations_dir(tickets.__file__), tmp_path,
                          request.getfixturevalue("pg_admin_url"))


def postgres(svc: ServiceHarness) -> bool:
    return svc.db.engine.dialect.name == "postgresql"


def article(svc: ServiceHarness, tenant: str = "a", **body: object) -> dict:
    body.setdefault("status", "published")
    resp = svc.client.post("/v1/kb/articles", json=body, headers=svc.headers(tenant))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def search(svc: ServiceHarness, q: str, tenant: str = "a", **params: str) -> list[dict]:
    resp = svc.client.get("/v1/kb/articles", query_string={"q": q, **params}, headers=svc.headers(tenant))
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["data"]


def test_crud_renders_and_sanitises(kb: ServiceHarness) -> None:
    svc = kb
    body = ("# Reset\n\nClick **Reset**. <script>alert(1)</script>\n\n[evil](javascript:alert(1)) "
            "[ok](https://example.com) <a href=\"javascript:alert(2)\">raw</a> <img src=x onerror=alert(3)>")
    created = article(svc, title="  Reset your password ", body_markdown=body, category="Accounts", status="draft")
    assert created["title"] == "Reset your password" and created["slug"] == "reset-your-password"
    assert created["locale"] == "en" and created["status"] == "draft" and created["published_at"] is None
    html = created["body_html"]
    assert "<h1>Reset</h1>" in html and "<strong>Reset</strong>" in html
    # Raw HTML is text, never markup; no link or attribute carries script.
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "<img" not in html and all(url.startswith("https://") for url in LINK.findall(html))
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">ok</a>' in html
    got = svc.client.get(f"/v1/kb/articles/{created['id']}", headers=svc.headers("a"))
    assert got.status_code == 200 and got.get_json() == created
    # Publishing sets published_at once; un- and re-publishing keeps the first time.
    pub = svc.client.patch(f"/v1/kb/articles/{created['id']}", json={"status": "published"}, headers=svc.headers("a"))
    first = pub.get_json()["published_at"]
    assert pub.status_code == 200 and first is not None
    svc.client.patch(f"/v1/kb/articles/{created['id']}", json={"status": "internal"}, headers=svc.headers("a"))
    again = svc.client.patch(f"/v1/kb/articles/{created['id']}", json={"status": "published", "body_markdown": "New *text*"},
                             headers=svc.headers("a")).get_json()
    assert again["published_at"] == first and again["body_html"] == "<p>New <em>text</em></p>\n"
    assert svc.client.delete(f"/v1/kb/articles/{created['id']}", headers=svc.headers("a")).status_code == 204
    assert svc.client.get(f"/v1/kb/articles/{created['id']}", headers=svc.headers("a")).status_code == 404
    assert search(svc, "password") == []  # gone from the index too
    if not postgres(svc):
        with svc.db.engine.connect() as conn:
            assert conn.execute(text("select count(*) from kb_articles_fts")).scalar() == 0


def test_events_and_slugs(kb: ServiceHarness) -> None:
    svc = kb
    one = article(svc, title="Billing FAQ")
    two = article(svc, title="Billing FAQ")
    assert (one["slug"], two["slug"]) == ("billing-faq", "billing-faq-2")
    clash = svc.client.post("/v1/kb/articles", json={"title": "X", "slug": "billing-faq"}, headers=svc.headers("a"))
    assert clash.status_code == 409 and "slug" in clash.get_json()["errors"]
    # Slugs are per tenant: B may use A's.
    assert article(svc, "b", title="Billing FAQ")["slug"] == "billing-faq"
    outbox = event_tables(svc.metadata).outbox
    with svc.db.engine.connect() as conn:
        rows = conn.execute(select(outbox.c.topic, outbox.c.payload)).all()
    types = [(r.topic, json.loads(r.payload)["type"]) for r in rows]
    assert ("crm.tickets.kb_article", "crm.kb_article.created") in types


def test_validation_names_fields(kb: ServiceHarness) -> None:
    c, h = kb.client, kb.headers("a")
    bad = c.post("/v1/kb/articles", json={"title": "", "status": "live", "locale": "english!", "slug": "Not A Slug"}, headers=h)
    assert bad.status_code == 422 and set(bad.get_json()["errors"]) == {"title", "status", "locale", "slug"}
    uuid_slug = c.post("/v1/kb/articles", json={"title": "T", "slug": str(uuid.uuid4())}, headers=h)
    assert uuid_slug.status_code == 422 and "slug" in uuid_slug.get_json()["errors"]
    ok = c.post("/v1/kb/articles", json={"title": "T", "locale": "pt_br"}, headers=h)
    assert ok.status_code == 201 and ok.get_json()["locale"] == "pt-BR"
    for params, field in (({"status": "nope"}, "status"), ({"locale": "!!"}, "locale"), ({"q": "x", "sort": "title"}, "sort"),
                          ({"q": "x", "cursor": "garbage"}, "cursor"), ({"q": "x" * 501}, "q")):
        resp = c.get("/v1/kb/articles", query_string=params, headers=h)
        assert resp.status_code == 400 and field in resp.get_json()["errors"], (params, resp.get_json())


def test_ranking_title_beats_body(kb: ServiceHarness) -> None:
    svc = kb
    body_hit = article(svc, title="Account settings", body_markdown="You can change the invoice address here.")
    title_hit = article(svc, title="Invoice address", body_markdown="Where to set it.")
    article(svc, title="Unrelated", body_markdown="Nothing to see.")
    hits = search(svc, "invoice")
    assert [h["id"] for h in hits] == [title_hit["id"], body_hit["id"]]
    assert hits[0]["rank"] > hits[1]["rank"]
    # Stemming (porter): "invoices" finds "invoice"; phrases, OR and exclusion as in a web search.
    assert {h["id"] for h in search(svc, "invoices")} == {title_hit["id"], body_hit["id"]}
    assert [h["id"] for h in search(svc, '"invoice address" -account')] == [title_hit["id"]]
    assert {h["id"] for h in search(svc, "nothing or settings")} >= {body_hit["id"]}
    # Punctuation and FTS5 syntax are just words, never an error.
    assert search(svc, 'NEAR( "* AND') == [] and search(svc, "^^^") == []


def test_filters_and_paging(kb: ServiceHarness) -> None:
    svc = kb
    article(svc, title="Shipping Times", category="Orders", locale="en")
    draft = article(svc, title="Shipping draft", category="Orders", status="draft")
    german = article(svc, title="Shipping Versand", category="Bestellungen", locale="de-DE")
    assert {h["id"] for h in search(svc, "shipping", status="draft")} == {draft["id"]}
    assert {h["id"] for h in search(svc, "shipping", locale="de-de")} == {german["id"]}
    assert {h["title"] for h in search(svc, "shipping", category="Orders")} == {"Shipping Times", "Shipping draft"}
    listed = svc.client.get("/v1/kb/articles", query_string={"status": "published", "sort": "title"},
                            headers=svc.headers("a")).get_json()["data"]
    assert [a["title"] for a in listed] == ["Shipping Times", "Shipping Versand"]
    page1 = svc.client.get("/v1/kb/articles", query_string={"q": "shipping", "limit": 2}, headers=svc.headers("a")).get_json()
    page2 = svc.client.get("/v1/kb/articles", query_string={"q": "shipping", "limit": 2, "cursor": page1["next_cursor"]},
                           headers=svc.headers("a")).get_json()
    assert len(page1["data"]) == 2 and len(page2["data"]) == 1 and page2["next_cursor"] is None
    assert {a["id"] for a in page1["data"] + page2["data"]} == {draft["id"], german["id"], *[a["id"] for a in listed]}


def test_isolation(kb: ServiceHarness) -> None:
    svc = kb
    mine = article(svc, "a", title="Secret refund policy", body_markdown="Refunds within 30 days.", category="Money")
    h = svc.headers("b")
    url = f"/v1/kb/articles/{mine['id']}"
    assert svc.client.get(url, headers=h).status_code == 404
    assert svc.client.patch(url, json={"title": "Mine now"}, headers=h).status_code == 404
    assert svc.client.delete(url, headers=h).status_code == 404
    assert svc.client.get("/v1/kb/articles", headers=h).get_json()["data"] == []
    assert search(svc, "refund", "b") == []
    assert svc.client.get("/v1/kb/articles", query_string={"category": "Money"}, headers=h).get_json()["data"] == []
    # B's slug space is its own: no conflict tells B that A has "secret-refund-policy".
    assert article(svc, "b", title="Secret refund policy")["slug"] == "secret-refund-policy"
    assert search(svc, "refund", "a")[0]["id"] == mine["id"]
    assert svc.client.get(url, headers=svc.headers("a")).get_json()["title"] == "Secret refund policy"


def test_suggested_articles_on_new_tickets(kb: ServiceHarness) -> None:
    svc = kb
    vpn = article(svc, title="Connect to the VPN", body_markdown="Install the client, then sign in.")
    internal = article(svc, title="VPN outage runbook", body_markdown="Restart the VPN concentrator.", status="internal")
    article(svc, title="VPN draft", status="draft")
    article(svc, title="Printer setup", body_markdown="Add the printer.")
    article(svc, "b", title="VPN for tenant B")
    resp = svc.client.post("/v1/tickets", json={"subject": "VPN not connecting", "description": "The client says sign in failed"},
                           headers=svc.headers("a"))
    ticket = resp.get_json()
    assert resp.status_code == 201
    assert ticket["suggested_article_ids"][:2] == [vpn["id"], internal["id"]]
    assert len(ticket["suggested_article_ids"]) == 2  # no draft, no other tenant's, nothing unrelated
    got = svc.client.get(f"/v1/tickets/{ticket['id']}/suggested-articles", headers=svc.headers("a"))
    assert got.status_code == 200
    data = got.get_json()["data"]
    assert [(d["id"], d["title"], d["status"]) for d in data] == [
        (vpn["id"], "Connect to the VPN", "published"), (internal["id"], "VPN outage runbook", "internal")]
    assert data[0]["url"] == f"/v1/kb/articles/{vpn['id']}" and data[1]["help_center_url"] is None
    assert svc.client.get(f"/v1/tickets/{ticket['id']}/suggested-articles", headers=svc.headers("b")).status_code == 404
    none = svc.client.post("/v1/tickets", json={"subject": "Zzz qqq"}, headers=svc.headers("a")).get_json()
    assert none["suggested_article_ids"] == []
    # A deleted article drops out of the list.
    svc.client.delete(f"/v1/kb/articles/{vpn['id']}", headers=svc.headers("a"))
    data = svc.client.get(f"/v1/tickets/{ticket['id']}/suggested-articles", headers=svc.headers("a")).get_json()["data"]
    assert [d["id"] for d in data] == [internal["id"]]
