"""CSAT routes: the survey link (open path /portal/{mailbox}/csat/{token}: the token is the
credential, looked up in the mailbox's tenant only) and the staff reports /v1/csat/responses and
/v1/csat/summary (tickets:read)."""

from __future__ import annotations

import datetime as dt
import html
import uuid
from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy import select

from crm_core import context
from crm_core.errors import NotFound, ProblemError, validation_error
from crm_db.base import as_utc, utc_iso
from crm_http.auth import require_scope
from crm_http.pagination import DEFAULT_LIMIT, MAX_LIMIT, paginate, parse_sort
from crm_http.parsing import query_int
from crm_http.resource import json_response
from crm_runtime.service import ServiceRuntime
from tickets.api.portal import form_or_json
from tickets.api.portal_pages import page, wants_html
from tickets.models import Ticket
from tickets.models.csat import CsatResponse
from tickets.schemas.csat import CsatAnswerSchema, CsatResponseSchema, CsatSummarySchema
from tickets.service import csat as svc
from tickets.service.desk import Desk
from tickets.service.portal_mailboxes import tenant_for_mailbox

TAG = "CSAT"
SCOPE = "tickets:read"
LABELS = {1: "1 — very unhappy", 2: "2 — unhappy", 3: "3 — neutral", 4: "4 — happy", 5: "5 — very happy"}


def _uuid_arg(name: str) -> uuid.UUID | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise validation_error({name: ["Not a UUID."]}) from exc


def _time_arg(name: str) -> dt.datetime | None:
    """An ISO 8601 time (or a date: its midnight, UTC); a time without an offset is UTC."""
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00")) if "T" in raw or " " in raw else \
            dt.datetime.combine(dt.date.fromisoformat(raw), dt.time())
    except ValueError as exc:
        raise validation_error({name: ["An ISO 8601 date or time, e.g. 2026-01-31 or 2026-01-31T12:00:00Z."]}) from exc
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _ratings() -> list[int]:
    raw = request.args.get("rating")
    if not raw:
        return []
    try:
        values = [int(part) for part in raw.split(",") if part.strip()]
    except ValueError as exc:
        raise validation_error({"rating": ["Ratings 1-5, comma-separated."]}) from exc
    if not values or any(not 1 <= v <= 5 for v in values):
        raise validation_error({"rating": ["Ratings 1-5, comma-separated."]})
    return values


def _filters() -> dict[str, Any]:
    since, until = _time_arg("from"), _time_arg("to")
    if since and until and since >= until:
        raise validation_error({"to": ["Must be after 'from'."]})
    return {"agent_id": _uuid_arg("agent_id"), "team_id": _uuid_arg("team_id"), "ratings": _ratings(),
            "since": since, "until": until}


def register(bp: Blueprint, runtime: ServiceRuntime, desk: Desk) -> None:
    db = runtime.db

    def tenant_of(mailbox: str) -> uuid.UUID:
        with db.transaction() as session:
            tenant = tenant_for_mailbox(session, mailbox)
        if tenant is None:
            raise NotFound("No such survey.")  # says nothing about whether the portal exists
        return tenant

    def failed(exc: ProblemError) -> Response:
        if wants_html():
            return page("This survey link no longer works", f"<p>{html.escape(exc.detail or '')}</p>", exc.status)
        raise exc

    def form(mailbox: str, token: str) -> Response:
        # A GET never answers (mail scanners open links): it shows the form.
        tenant = tenant_of(mailbox)
        try:
            with context.tenant_context(tenant), db.transaction() as session:
                survey = svc.survey_for(session, token)
                ticket = session.scalars(select(Ticket).where(Ticket.id == survey.ticket_id)).first()
                number, subject = (ticket.number, ticket.subject) if ticket else (None, "")
                expires = survey.expires_at
        except ProblemError as exc:
            return failed(exc)
        if not wants_html():
            return json_response({"ticket_number": number, "subject": subject,
                                  "expires_at": utc_iso(as_utc(expires))}, headers={"Cache-Control": "no-store"})
        chosen = request.args.get("rating", "")
        options = "".join(
            f'<div><input type="radio" id="r{v}" name="rating" value="{v}" required{" checked" if chosen == str(v) else ""}>'
            f'<label for="r{v}" style="display:inline;font-weight:normal">{html.escape(label)}</label></div>'
            for v, label in LABELS.items())
        return page("How did we do?", (
            f"<p>Your request #{number}: {html.escape(subject)}</p>"
            f'<form method="post" action="/portal/{html.escape(mailbox)}/csat/{html.escape(token)}">'
            f'<fieldset><legend>Your rating</legend>{options}</fieldset>'
            '<label for="comment">Anything to add? (optional)</label>'
            '<textarea id="comment" name="comment" rows="4" maxlength="5000"></textarea>'
            '<button type="submit">Send</button></form>'))

    def submit(mailbox: str, token: str) -> Response:
        tenant = tenant_of(mailbox)
        try:
            with context.tenant_context(tenant), db.transaction() as session:
                svc.survey_for(session, token)  # the token is the credential: checked before the body
                rating, comment = svc.parse_answer(form_or_json())
                response = svc.answer(session, desk, token, rating, comment)
                body = svc.response_body(response)
        except ProblemError as exc:
            return failed(exc)
        if wants_html():
            return page("Thank you!", "<p>Your feedback was received.</p>", 201)
        return json_response({k: body[k] for k in ("ticket_number", "rating", "comment", "created_at")}, 201)

    def responses() -> Response:
        require_scope(SCOPE)
        limit = query_int("limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
        filters = _filters()
        keys = parse_sort(request.args.get("sort"), {"created_at": CsatResponse.created_at,
                                                     "rating": CsatResponse.rating}, "-created_at", CsatResponse.id)
        with db.transaction() as session:
            stmt = svc.filtered(select(CsatResponse), **filters)
            found, next_cursor = paginate(session, stmt, keys, limit, request.args.get("cursor"))
            data = [svc.response_body(r) for r in found]
        return json_response({"data": data, "next_cursor": next_cursor})

    def summary() -> Response:
        require_scope(SCOPE)
        group_by = request.args.get("group_by") or None
        filters = _filters()
        with db.transaction() as session:
            groups = svc.summary(session, group_by, **filters) if group_by else []
            total = svc.summary(session, None, **filters)[0]
        return json_response({"group_by": group_by, "total": total, "groups": groups})

    bp.add_url_rule("/portal/<mailbox>/csat/<token>", "csat_form", form, methods=["GET"])
    bp.add_url_rule("/portal/<mailbox>/csat/<token>", "csat_submit", submit, methods=["POST"])
    bp.add_url_rule("/v1/csat/responses", "csat_responses", responses, methods=["GET"])
    bp.add_url_rule("/v1/csat/summary", "csat_summary", summary, methods=["GET"])
    _document(runtime)


def _document(runtime: ServiceRuntime) -> None:
    doc = runtime.doc
    path = [{"name": "mailbox", "in": "path", "required": True, "schema": {"type": "string"}},
            {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}]
    filters = [
        {"name": "agent_id", "in": "query", "schema": {"type": "string", "format": "uuid"}},
        {"name": "team_id", "in": "query", "schema": {"type": "string", "format": "uuid"}},
        {"name": "rating", "in": "query", "schema": {"type": "string"}, "description": "e.g. `1,2`"},
        {"name": "from", "in": "query", "schema": {"type": "string"}, "description": "ISO date or time (inclusive)"},
        {"name": "to", "in": "query", "schema": {"type": "string"}, "description": "ISO date or time (exclusive)"},
    ]
    doc.operation("/portal/{mailbox}/csat/{token}", "get", summary="The survey of a resolved ticket (a browser gets "
                  "the form); open path, the token is the credential", tag=TAG, parameters=path,
                  extra_responses={404: "No such survey", 409: "Already answered", 410: "Expired"})
    doc.operation("/portal/{mailbox}/csat/{token}", "post", summary="Answer the survey (once): rating 1-5 and a "
                  "comment", tag=TAG, request=CsatAnswerSchema, status=201, parameters=path,
                  extra_responses={404: "No such survey", 409: "Already answered", 410: "Expired",
                                   422: "Invalid rating or comment"})
    doc.operation("/v1/csat/responses", "get", summary="CSAT responses, newest first", tag=TAG, scope=SCOPE,
                  response=CsatResponseSchema, list_of=True,
                  parameters=[{"name": "limit", "in": "query", "schema": {"type": "integer"}},
                              {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                              {"name": "sort", "in": "query", "schema": {"type": "string"}}, *filters])
    doc.operation("/v1/csat/summary", "get", summary="CSAT count, average and share of 4-5 ratings, in all and per "
                  "agent or team", tag=TAG, scope=SCOPE, response=CsatSummarySchema,
                  parameters=[{"name": "group_by", "in": "query", "schema": {"type": "string", "enum": ["agent", "team"]}},
                              *filters])
