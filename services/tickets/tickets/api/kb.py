"""Routes of the kb area: /v1/kb/articles (CRUD, filters, ranked search), a ticket's suggested
articles, and the public help centre (api/kb_portal.py)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy import Select, select

from crm_core import context
from crm_core.errors import BadRequest
from crm_http.auth import require_scope
from crm_http.pagination import DEFAULT_LIMIT, MAX_LIMIT
from crm_http.parsing import parse_uuid, query_int
from crm_http.resource import LIST_PARAMS, SEARCH_PARAM, RecordRoutes, json_response
from crm_runtime.service import ServiceRuntime
from tickets.api import kb_portal
from tickets.api.kb_portal import locale_arg
from tickets.models.kb import ARTICLE_STATUSES, KbArticle
from tickets.schemas.kb import ArticleCreateSchema, ArticleHitSchema, ArticleInSchema, ArticleSchema, SuggestedArticleSchema
from tickets.service import kb, kb_search
from tickets.service.desk import Desk

TAG = "Knowledge base"
BASE = "/v1/kb/articles"
MAX_OFFSET = 1000  # ranked results page by offset; past the first thousand nobody reads on
FILTER_PARAMS = [
    {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(ARTICLE_STATUSES)}},
    {"name": "category", "in": "query", "schema": {"type": "string"}},
    {"name": "locale", "in": "query", "schema": {"type": "string"}, "description": "BCP 47, e.g. `de-CH`"},
]


def article_filters() -> kb_search.Filters:
    """`?status=&category=&locale=` (AND)."""
    status = request.args.get("status") or None
    if status is not None and status not in ARTICLE_STATUSES:
        raise BadRequest(f"Query parameter 'status' must be one of: {', '.join(ARTICLE_STATUSES)}.",
                         errors={"status": [f"Unknown value {status!r}."]})
    return kb_search.Filters(statuses=(status,) if status else None,
                             category=(request.args.get("category") or "").strip() or None, locale=locale_arg())


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        value = int(base64.urlsafe_b64decode(cursor.encode() + b"==").decode().removeprefix("o:"))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequest("Invalid cursor.", errors={"cursor": ["Invalid cursor."]}) from exc
    if not 0 <= value <= MAX_OFFSET:
        raise BadRequest("Invalid cursor.", errors={"cursor": ["Invalid cursor."]})
    return value


def _cursor(offset: int) -> str | None:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=") if offset <= MAX_OFFSET else None


class ArticleRoutes(RecordRoutes):
    """RecordRoutes, with `?q=` answered by rank (best first) rather than by a sort key."""

    def list(self) -> Response:
        query = (request.args.get("q") or "").strip()
        if not query:
            return super().list()
        require_scope(f"{self.area}:read")
        if request.args.get("sort"):
            raise BadRequest("Search results are ordered by relevance; drop 'sort' or 'q'.", errors={"sort": ["Not with q."]})
        if len(query) > 500:
            raise BadRequest("Query parameter 'q' is limited to 500 characters.", errors={"q": ["Too long."]})
        limit = query_int("limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
        offset, filters = _offset(request.args.get("cursor")), article_filters()
        assert self.rows is not None
        rows = self.rows
        prefetch = kb_search.configs_prefetch(self.db()) if filters.locale is None else []
        with self.db().transaction(prefetch=prefetch) as session:
            found = kb_search.search(session, query, rows.table_columns, filters, limit=limit + 1, offset=offset)
            data = [{**rows.dump(tuple(row)[:-1], None), "rank": round(float(row.rank), 6)} for row in found[:limit]]
        return json_response({"data": data, "next_cursor": _cursor(offset + limit) if len(found) > limit else None})


def _filters(stmt: Select[Any]) -> Select[Any]:
    return stmt.where(*article_filters().on(KbArticle.status, KbArticle.category, KbArticle.locale))


def register(bp: Blueprint, runtime: ServiceRuntime, desk: Desk) -> None:
    """Adds the area's routes."""
    service = kb.ArticleService(desk.outbox, ArticleSchema().dump)
    ArticleRoutes(
        collection="kb/articles", area="tickets", tag=TAG,
        db=lambda: runtime.db, service=lambda: service,
        create_schema=ArticleCreateSchema(), update_schema=ArticleInSchema(), output_schema=ArticleSchema(),
        idempotency=lambda: runtime.idempotency,
        sortable={"title": KbArticle.title, "published_at": KbArticle.published_at},
        list_filters=_filters,
    ).register(bp, runtime.doc)
    doc = runtime.doc
    doc.operation(BASE, "get", summary="List or search knowledge-base articles (`q`: ranked full-text search, "
                  "best first; title matches outrank body matches)", tag=TAG, scope="tickets:read",
                  response=ArticleHitSchema, list_of=True, parameters=[*LIST_PARAMS, SEARCH_PARAM, *FILTER_PARAMS])
    base_url = kb_portal.public_base(runtime.settings)

    def suggested(ticket_id: str) -> Response:
        require_scope("tickets:read")
        tid = parse_uuid(ticket_id, "ticket")
        with runtime.db.transaction() as session:
            ids = desk.tickets.get(session, tid).suggested_article_ids or []
            wanted = [parse_uuid(i, "article") for i in ids[:20]]
            rows = {r.id: r for r in session.execute(
                select(KbArticle.id, KbArticle.title, KbArticle.slug, KbArticle.status, KbArticle.category,
                       KbArticle.locale).where(KbArticle.id.in_(wanted)))} if wanted else {}
            mailbox = kb.mailbox_of(session, context.require_tenant())
        data = []
        for aid in wanted:  # in the order they ranked; deleted ones drop out
            row = rows.get(aid)
            if row is None:
                continue
            portal = (f"{base_url}{kb_portal.article_path(mailbox, row.slug)}"
                      if mailbox and row.status == "published" else None)
            data.append({"id": str(row.id), "title": row.title, "slug": row.slug, "status": row.status,
                         "category": row.category, "locale": row.locale, "url": f"{BASE}/{row.id}",
                         "help_center_url": portal})
        return json_response({"data": data})

    bp.add_url_rule("/v1/tickets/<ticket_id>/suggested-articles", "tickets_suggested_articles", suggested, methods=["GET"])
    doc.operation("/v1/tickets/{ticket_id}/suggested-articles", "get",
                  summary="The knowledge-base articles that ranked best for the ticket when it was created", tag=TAG,
                  scope="tickets:read", response=SuggestedArticleSchema, list_of=True,
                  parameters=[{"name": "ticket_id", "in": "path", "required": True,
                               "schema": {"type": "string", "format": "uuid"}}],
                  extra_responses={404: "No such ticket"})
    kb_portal.register(bp, runtime)

