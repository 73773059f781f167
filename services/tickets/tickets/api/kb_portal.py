"""The public help centre: /portal/{mailbox}/ (an open path: no login, the public principal).

The mailbox name finds the tenant in portal_mailboxes (a platform table, fed by the mail service's
crm.mailbox.named events); everything after runs in that tenant's context, so RLS and the ORM
criteria keep it to that tenant's rows, and only published articles are ever selected. An unknown
mailbox is a 404 that says nothing more.

Pages are server-rendered, small and self-contained: one inline stylesheet allowed by its hash in
the Content-Security-Policy, no scripts, no external assets. The other /portal/{mailbox}/ paths
(login, tickets, csat) belong to the portal area.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core import context
from crm_core.errors import BadRequest, NotFound
from crm_core.settings import Settings
from crm_db.base import utc_iso
from crm_http.parsing import query_int
from crm_http.resource import json_response
from crm_runtime.service import ServiceRuntime
from tickets.models.kb import KbArticle
from tickets.schemas.kb import LOCALE, PublicArticleSchema, normalise_locale
from tickets.service import kb_search
from tickets.service.kb_render import snippet
from tickets.service.portal_mailboxes import tenant_for_mailbox

PREFIX = "/portal"
TAG = "Help centre"
MAILBOX = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
MAX_HOME = 1000  # articles on the home page, by category
SEARCH_LIMIT = 25
MAX_QUERY = 200
CSS = (
    "body{font:16px/1.5 system-ui,sans-serif;margin:0;color:#1b1b1b;background:#fff}"
    "header,main,footer{max-width:46rem;margin:0 auto;padding:1rem}"
    "header{border-bottom:1px solid #ddd}nav{display:flex;justify-content:space-between;gap:1rem;flex-wrap:wrap}"
    "a{color:#0b57d0}a:focus,input:focus,button:focus{outline:3px solid #f9a825;outline-offset:2px}"
    ".skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.5rem}"
    "form{display:flex;gap:.5rem;margin-top:1rem;flex-wrap:wrap}label{width:100%;font-weight:600}"
    "input{flex:1;min-width:12rem;padding:.5rem;font:inherit;border:1px solid #767676;border-radius:4px}"
    "button{padding:.5rem 1rem;font:inherit;border:0;border-radius:4px;background:#0b57d0;color:#fff}"
    "ul{padding-left:1.2rem}li{margin:.3rem 0}.muted{color:#555;font-size:.9rem}"
    "pre{overflow:auto;background:#f5f5f5;padding:.75rem}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:.3rem .5rem}img{max-width:100%}"
)


@functools.cache
def _csp() -> str:
    digest = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
    return (f"default-src 'none'; style-src 'sha256-{digest}'; img-src https: data:; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'none'")


def public_base(settings: Settings) -> str:
    return (settings.get("CRM_PUBLIC_URL", "http://127.0.0.1:8080") or "http://127.0.0.1:8080").rstrip("/")


def home_path(mailbox: str) -> str:
    return f"{PREFIX}/{quote(mailbox)}/"


def article_path(mailbox: str, slug: str) -> str:
    return f"{PREFIX}/{quote(mailbox)}/articles/{quote(slug)}"


def _not_found() -> NotFound:
    return NotFound("No such help centre.")


@contextmanager
def tenant_of(runtime: ServiceRuntime, mailbox: str, *, search: bool = False) -> Iterator[Session]:
    """A transaction in the tenant whose mailbox this is; 404 for any other name."""
    name = mailbox.strip().lower()
    if not MAILBOX.match(name):
        raise _not_found()
    with runtime.db.transaction() as session:  # portal_mailboxes: a platform table, read by name alone
        tenant = tenant_for_mailbox(session, name)
    if tenant is None:
        raise _not_found()
    with context.tenant_context(tenant), \
            runtime.db.transaction(prefetch=kb_search.configs_prefetch(runtime.db) if search else ()) as session:
        yield session


_PUBLIC_COLUMNS = (KbArticle.id, KbArticle.slug, KbArticle.title, KbArticle.category, KbArticle.locale,
                   KbArticle.body_text, KbArticle.published_at, KbArticle.updated_at)


def _published(locale: str | None, category: str | None = None) -> kb_search.Filters:
    return kb_search.Filters(statuses=("published",), category=category, locale=locale)


def _where(filters: kb_search.Filters) -> list[Any]:
    return filters.on(KbArticle.status, KbArticle.category, KbArticle.locale)


def locale_arg() -> str | None:
    """`?locale=` (BCP 47, normalised), None when absent; 400 when it is no language tag."""
    raw = (request.args.get("locale") or "").strip().replace("_", "-")
    if not raw:
        return None
    if len(raw) > 35 or not LOCALE.match(raw):
        raise BadRequest("Query parameter 'locale' must be a BCP 47 language tag.", errors={"locale": ["Not a language tag."]})
    return normalise_locale(raw)


def _find(session: Session, ref: str) -> KbArticle | None:
    """A published article by id or slug."""
    try:
        condition = KbArticle.id == uuid.UUID(ref)
    except ValueError:
        condition = KbArticle.slug == ref.lower()
    return session.scalars(select(KbArticle).where(condition, KbArticle.status == "published")).first()


def _query() -> str:
    q = (request.args.get("q") or "").strip()
    if len(q) > MAX_QUERY:
        raise BadRequest(f"Query parameter 'q' is limited to {MAX_QUERY} characters.", errors={"q": ["Too long."]})
    return q


# --- HTML -------------------------------------------------------------------------------------

def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def page(mailbox: str, title: str, main: str, *, query: str = "", status: int = 200, lang: str = "en") -> Response:
    mb = quote(mailbox)
    body = (
        f'<!doctype html>\n<html lang="{_e(lang)}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)} · Help centre</title><style>{CSS}</style></head><body>"
        f'<a class="skip" href="#main">Skip to content</a>'
        f'<header><nav aria-label="Help centre"><a href="/portal/{mb}/">Help centre</a>'
        f'<a href="/portal/{mb}/login">Sign in to see your tickets</a></nav>'
        f'<form role="search" action="/portal/{mb}/search" method="get">'
        f'<label for="q">Search the help centre</label>'
        f'<input id="q" name="q" type="search" value="{_e(query)}" maxlength="{MAX_QUERY}">'
        f'<button type="submit">Search</button></form></header>'
        f'<main id="main">{main}</main></body></html>'
    )
    resp = Response(body, status=status, mimetype="text/html")
    resp.headers["Content-Security-Policy"] = _csp()
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "same-origin"
    resp.headers["Cache-Control"] = "public, max-age=60"
    return resp


def _item(mailbox: str, row: Any) -> str:
    return (f'<li><a href="{_e(article_path(mailbox, row.slug))}">{_e(row.title)}</a>'
            f'<br><span class="muted">{_e(snippet(row.body_text, 160))}</span></li>')


def home_html(mailbox: str, rows: list[Any]) -> str:
    if not rows:
        return "<h1>Help centre</h1><p>No articles yet.</p>"
    groups: dict[str, list[Any]] = {}
    for row in rows:
        groups.setdefault(row.category or "General", []).append(row)
    parts = ["<h1>Help centre</h1>"]
    for n, (category, items) in enumerate(sorted(groups.items(), key=lambda kv: kv[0].lower())):
        parts.append(f'<section aria-labelledby="c{n}"><h2 id="c{n}">{_e(category)}</h2><ul>')
        parts.extend(_item(mailbox, row) for row in items)
        parts.append("</ul></section>")
    return "".join(parts)


def search_html(mailbox: str, query: str, rows: list[Any]) -> str:
    if not query:
        return "<h1>Search</h1><p>Type what you are looking for above.</p>"
    head = f"<h1>Results for “{_e(query)}”</h1>"
    if not rows:
        return head + '<p role="status">No articles match. Try other words.</p>'
    items = "".join(_item(mailbox, row) for row in rows)
    return f'{head}<p role="status">{len(rows)} article{"s" if len(rows) != 1 else ""} found.</p><ul>{items}</ul>'


def article_html(mailbox: str, article: KbArticle) -> str:
    # body_html was sanitised when it was written (kb_render): shown as is.
    when = utc_iso(article.updated_at) or ""
    category = f'<p class="muted">{_e(article.category)}</p>' if article.category else ""
    return (f'<article lang="{_e(article.locale)}">{category}<h1>{_e(article.title)}</h1>{article.body_html}'
            f'<p class="muted">Updated <time datetime="{_e(when)}">{_e(when[:10])}</time></p></article>'
            f'<p><a href="{_e(home_path(mailbox))}">All articles</a></p>')


# --- routes -----------------------------------------------------------------------------------

def register(bp: Blueprint, runtime: ServiceRuntime) -> None:
    base = public_base(runtime.settings)
    dump = PublicArticleSchema().dump

    def home(mailbox: str) -> Response:
        locale = locale_arg()
        with tenant_of(runtime, mailbox) as session:
            rows = session.execute(select(*_PUBLIC_COLUMNS).where(*_where(_published(locale)))
                                   .order_by(KbArticle.category, KbArticle.title, KbArticle.id).limit(MAX_HOME)).all()
        return page(mailbox, "Help centre", home_html(mailbox, list(rows)))

    def search(mailbox: str) -> Response:
        query, locale = _query(), locale_arg()
        with tenant_of(runtime, mailbox, search=bool(query) and locale is None) as session:
            rows = kb_search.search(session, query, _PUBLIC_COLUMNS, _published(locale), limit=SEARCH_LIMIT) if query else []
        return page(mailbox, f"Search: {query}" if query else "Search", search_html(mailbox, query, rows), query=query)

    def article(mailbox: str, ref: str) -> Response:
        with tenant_of(runtime, mailbox) as session:
            found = _find(session, ref)
            if found is None:
                return page(mailbox, "Not found", "<h1>Article not found</h1><p>It may have been moved or unpublished.</p>",
                            status=404)
            return page(mailbox, found.title, article_html(mailbox, found), lang=found.locale)

    def _public(mailbox: str, row: Any) -> dict[str, Any]:
        return dump({**row._asdict(), "snippet": snippet(row.body_text), "url": f"{base}{article_path(mailbox, row.slug)}"})

    def api_list(mailbox: str) -> Response:
        query, locale = _query(), locale_arg()
        limit = query_int("limit", 20, minimum=1, maximum=100)
        category = (request.args.get("category") or "").strip()
        filters = _published(locale, category or None)
        columns = (*_PUBLIC_COLUMNS, KbArticle.body_html)
        with tenant_of(runtime, mailbox, search=bool(query) and locale is None) as session:
            if query:
                rows = kb_search.search(session, query, columns, filters, limit=limit)
            else:
                rows = session.execute(select(*columns).where(*_where(filters))
                                       .order_by(KbArticle.category, KbArticle.title, KbArticle.id).limit(limit)).all()
        data = [_public(mailbox, row) for row in rows]
        return json_response({"data": data}, headers={"Cache-Control": "public, max-age=60"})

    def api_read(mailbox: str, ref: str) -> Response:
        with tenant_of(runtime, mailbox) as session:
            found = _find(session, ref)
            if found is None:
                raise NotFound("No such article.")
            body = dump({**{c.key: getattr(found, c.key) for c in _PUBLIC_COLUMNS}, "body_html": found.body_html,
                         "snippet": snippet(found.body_text), "url": f"{base}{article_path(mailbox, found.slug)}"})
        return json_response(body, headers={"Cache-Control": "public, max-age=60"})

    bp.add_url_rule(f"{PREFIX}/<mailbox>/", "help_centre_home", home, methods=["GET"])
    bp.add_url_rule(f"{PREFIX}/<mailbox>/search", "help_centre_search", search, methods=["GET"])
    bp.add_url_rule(f"{PREFIX}/<mailbox>/articles/<ref>", "help_centre_article", article, methods=["GET"])
    bp.add_url_rule(f"{PREFIX}/<mailbox>/kb/articles", "help_centre_api_list", api_list, methods=["GET"])
    bp.add_url_rule(f"{PREFIX}/<mailbox>/kb/articles/<ref>", "help_centre_api_read", api_read, methods=["GET"])
    mb = {"name": "mailbox", "in": "path", "required": True, "schema": {"type": "string"}}
    doc = runtime.doc
    doc.operation("/portal/{mailbox}/kb/articles", "get", summary="The help centre's published articles (no login); "
                  "`q` searches them, best first", tag=TAG, response=PublicArticleSchema, list_of=True,
                  parameters=[mb, {"name": "q", "in": "query", "schema": {"type": "string"}},
                              {"name": "category", "in": "query", "schema": {"type": "string"}},
                              {"name": "locale", "in": "query", "schema": {"type": "string"}},
                              {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}}],
                  extra_responses={404: "No such help centre"})
    doc.operation("/portal/{mailbox}/kb/articles/{ref}", "get", summary="A published article by id or slug (no login)",
                  tag=TAG, response=PublicArticleSchema,
                  parameters=[mb, {"name": "ref", "in": "path", "required": True, "schema": {"type": "string"}}],
                  extra_responses={404: "No such help centre or article"})

