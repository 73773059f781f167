"""The public help centre /portal/{mailbox}/ on both engines: published articles only, that
mailbox's tenant only, search, article pages, JSON; and the crm.mailbox.named projection."""

from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace

from sqlalchemy import select
from test_kb_api import article, kb  # noqa: F401 - the engine-parametrised harness fixture

from crm_core.context import public_principal
from crm_core.internal_token import HEADER
from crm_db.base import utcnow
from crm_testing.apps import ServiceHarness
from tickets.models.portal import PortalMailbox
from tickets.service.kb import apply_mailbox_named, mailbox_handlers


def public(svc: ServiceHarness) -> dict[str, str]:
    """What the gateway sends for an open path: the public principal, no tenant."""
    return {HEADER: svc.signer.mint(public_principal(), svc.settings.service)}


def name_mailbox(svc: ServiceHarness, tenant: str, name: str, when: dt.datetime | None = None) -> bool:
    with svc.db.transaction() as session:
        return apply_mailbox_named(session, svc.tenant(tenant), name, when or utcnow())


def mailboxes(svc: ServiceHarness) -> dict[str, uuid.UUID]:
    with svc.db.transaction() as session:
        return {r.name: r.tenant_id for r in session.execute(select(PortalMailbox.name, PortalMailbox.tenant_id))}


def test_help_centre_shows_only_published_articles_of_its_tenant(kb: ServiceHarness) -> None:  # noqa: F811
    svc = kb
    name_mailbox(svc, "a", "acme")
    name_mailbox(svc, "b", "globex")
    pub = article(svc, "a", title="Reset your password", body_markdown="Use **Forgot password**.", category="Accounts")
    article(svc, "a", title="Password rotation runbook", body_markdown="Internal password steps.", status="internal")
    article(svc, "a", title="Password draft", status="draft")
    article(svc, "a", title="Invoices explained", category="Billing")
    article(svc, "b", title="Globex password policy", body_markdown="B's password secret.")
    h = public(svc)

    home = svc.client.get("/portal/acme/", headers=h)
    assert home.status_code == 200 and home.mimetype == "text/html"
    page = home.get_data(as_text=True)
    assert "Reset your password" in page and "Invoices explained" in page
    assert "<h2 id=\"c0\">Accounts</h2>" in page and "Billing" in page
    assert "runbook" not in page and "draft" not in page.lower() and "Globex" not in page
    assert 'href="/portal/acme/login">Sign in to see your tickets</a>' in page
    assert 'action="/portal/acme/search"' in page and '<label for="q">' in page
    csp = home.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "<script" not in page

    found = svc.client.get("/portal/acme/search", query_string={"q": "password"}, headers=h).get_data(as_text=True)
    assert "Reset your password" in found and "runbook" not in found and "Globex" not in found
    assert "1 article found" in found
    none = svc.client.get("/portal/acme/search", query_string={"q": "<script>x</script>"}, headers=h).get_data(as_text=True)
    assert "<script>x" not in none and "&lt;script&gt;x" in none and "No articles match" in none

    by_slug = svc.client.get(f"/portal/acme/articles/{pub['slug']}", headers=h)
    assert by_slug.status_code == 200 and "<strong>Forgot password</strong>" in by_slug.get_data(as_text=True)
    assert svc.client.get(f"/portal/acme/articles/{pub['id']}", headers=h).status_code == 200

    api = svc.client.get("/portal/acme/kb/articles", query_string={"q": "password"}, headers=h)
    assert api.status_code == 200
    data = api.get_json()["data"]
    assert [d["id"] for d in data] == [pub["id"]]
    assert set(data[0]) >= {"title", "slug", "body_html", "snippet", "url", "category"} and "status" not in data[0]
    assert data[0]["url"].endswith(f"/portal/acme/articles/{pub['slug']}")
    listed = svc.client.get("/portal/acme/kb/articles", query_string={"category": "Billing"}, headers=h).get_json()["data"]
    assert [d["title"] for d in listed] == ["Invoices explained"]
    assert svc.client.get(f"/portal/acme/kb/articles/{pub['slug']}", headers=h).get_json()["id"] == pub["id"]
    # Unpublished: gone from the help centre at once (the search index follows the status).
    svc.client.patch(f"/v1/kb/articles/{pub['id']}", json={"status": "internal"}, headers=svc.headers("a"))
    assert svc.client.get("/portal/acme/kb/articles", query_string={"q": "password"}, headers=h).get_json()["data"] == []
    assert svc.client.get(f"/portal/acme/articles/{pub['slug']}", headers=h).status_code == 404


def test_a_customer_of_one_tenant_never_reaches_another_tenants_articles(kb: ServiceHarness) -> None:  # noqa: F811
    svc = kb
    name_mailbox(svc, "a", "acme")
    name_mailbox(svc, "b", "globex")
    b_pub = article(svc, "b", title="Globex secret pricing", body_markdown="Pricing for Globex.")
    b_internal = article(svc, "b", title="Globex internal", status="internal")
    a_internal = article(svc, "a", title="Acme internal", status="internal")
    a_draft = article(svc, "a", title="Acme draft", status="draft")
    h = public(svc)
    for ref in (b_pub["id"], b_pub["slug"], b_internal["id"], a_internal["id"], a_internal["slug"], a_draft["id"]):
        assert svc.client.get(f"/portal/acme/articles/{ref}", headers=h).status_code == 404, ref
        assert svc.client.get(f"/portal/acme/kb/articles/{ref}", headers=h).status_code == 404, ref
    assert svc.client.get("/portal/acme/kb/articles", query_string={"q": "pricing"}, headers=h).get_json()["data"] == []
    assert svc.client.get("/portal/acme/kb/articles", query_string={"q": "internal"}, headers=h).get_json()["data"] == []
    assert "Globex" not in svc.client.get("/portal/acme/search", query_string={"q": "globex"}, headers=h).get_data(as_text=True)
    assert svc.client.get(f"/portal/globex/articles/{b_pub['slug']}", headers=h).status_code == 200
    # Unknown or malformed mailboxes: 404, the same answer.
    for path in ("/portal/nobody/", "/portal/nobody/search?q=x", "/portal/nobody/kb/articles", "/portal/-x-/",
                 "/portal/" + "a" * 70 + "/", f"/portal/nobody/articles/{b_pub['id']}"):
        resp = svc.client.get(path, headers=h)
        assert resp.status_code == 404, path
    # Staff credentials don't widen it: the help centre shows published articles whoever asks.
    assert svc.client.get(f"/portal/acme/articles/{a_internal['id']}", headers=svc.headers("a")).status_code == 404
    # The staff API is not open to the public principal.
    assert svc.client.get("/v1/kb/articles", headers=h).status_code in (401, 403, 404)


def test_mailbox_names_follow_renames_in_order(kb: ServiceHarness) -> None:  # noqa: F811
    svc = kb
    t0 = utcnow() - dt.timedelta(minutes=10)
    assert name_mailbox(svc, "a", "acme", t0)
    assert name_mailbox(svc, "a", "acme-inc", t0 + dt.timedelta(minutes=1))
    assert mailboxes(svc) == {"acme-inc": svc.tenant("a")}
    # B takes the freed name; a late redelivery of A's old event does not take it back.
    assert name_mailbox(svc, "b", "acme", t0 + dt.timedelta(minutes=2))
    assert not name_mailbox(svc, "a", "acme", t0)
    assert mailboxes(svc) == {"acme-inc": svc.tenant("a"), "acme": svc.tenant("b")}
    # The consumer's handler: tenant from the envelope; data about another tenant is ignored.
    handler = mailbox_handlers()["crm.mailbox.named"]
    tb = svc.tenant("b")
    with svc.db.transaction() as session:
        handler(session, SimpleNamespace(tenant_id=str(tb), time=utcnow().isoformat(),
                                         data={"tenant_id": str(tb), "name": "Globex", "previous_name": "acme"}))
        handler(session, SimpleNamespace(tenant_id=str(tb), time=utcnow().isoformat(),
                                         data={"tenant_id": str(svc.tenant("a")), "name": "stolen"}))
    assert mailboxes(svc) == {"acme-inc": svc.tenant("a"), "globex": tb}
