"""Personal calendar feeds: `/v1/calendar/feed` (the caller's: create or rotate, show, revoke) and
the open URL `GET /calendar/<token>.ics` that calendar apps subscribe to.

The token is the only credential of that URL (calendar apps send no other): 256 random bits,
shown once, stored as its hash (crm_core.ids.secret_hash). The gateway forwards /calendar/ with
the public principal; the token's hash finds the tenant in calendar_feed_tokens (no RLS), and the
user in that tenant's calendar_feeds (RLS). An unknown, rotated or revoked token is 404 with the
same answer as any other miss: nothing tells which.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, request
from marshmallow import Schema, fields
from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_core import context
from crm_core.errors import Forbidden, NotFound
from crm_core.ids import secret_hash
from crm_core.settings import Settings
from crm_db.base import as_utc, utc_iso, utcnow
from crm_db.database import Database
from crm_http.auth import require_scope
from crm_http.resource import json_response
from crm_ical import CONTENT_TYPE
from crm_runtime.service import ServiceRuntime
from pipeline.calendar_ics import feed
from pipeline.models import Task
from pipeline.models.calendar import CalendarFeed, CalendarFeedToken, Meeting
from pipeline.models.reminders import UserReplica

TAG = "Calendar"
SCOPE = "pipeline:read"  # a feed shows only what its user can read
FEED_PATH = "/v1/calendar/feed"
PUBLIC_PREFIX = "/calendar/"
DONE_WINDOW = dt.timedelta(days=30)  # recently done tasks stay on the calendar, ticked
MEETING_WINDOW = dt.timedelta(days=90)
MAX_ITEMS = 2000  # per kind: a feed is polled every few minutes and must stay cheap
FETCH_NOTE_EVERY = dt.timedelta(hours=1)  # last_fetched_at: a write at most hourly, not per poll
MAX_TOKEN = 100
Clock = Callable[[], dt.datetime]


class FeedStateSchema(Schema):
    active = fields.Boolean(required=True)
    url = fields.String(metadata={"description": "Only in the answer to POST: the secret URL, shown once"})
    created_at = fields.String(allow_none=True)
    last_fetched_at = fields.String(allow_none=True)


def public_base(settings: Settings) -> str:
    return (settings.get("CRM_PUBLIC_URL", "http://127.0.0.1:8080") or "http://127.0.0.1:8080").rstrip("/")


def _user() -> uuid.UUID:
    principal = context.current_principal()
    if principal is None or principal.user_id is None:
        raise Forbidden("A calendar feed belongs to a user; this credential (an API key) has none.")
    return principal.user_id


def _state(row: CalendarFeed | None) -> dict[str, Any]:
    if row is None:
        return {"active": False, "created_at": None, "last_fetched_at": None}
    return {"active": True, "created_at": utc_iso(as_utc(row.updated_at)),
            "last_fetched_at": utc_iso(as_utc(row.last_fetched_at)) if row.last_fetched_at else None}


def _mine(session: Session, user_id: uuid.UUID) -> CalendarFeed | None:
    return session.scalars(select(CalendarFeed).where(CalendarFeed.user_id == user_id).with_for_update()).first()


def issue(session: Session, user_id: uuid.UUID) -> tuple[CalendarFeed, str]:
    """A new token for the user's feed; the old one (if any) stops working in the same commit."""
    token = secrets.token_urlsafe(32)
    hashed, tenant = secret_hash(token), context.require_tenant()
    row = _mine(session, user_id)
    if row is None:
        try:
            with session.begin_nested():  # two first POSTs at once: the loser rotates the winner's row
                row = CalendarFeed(user_id=user_id, token_hash=hashed)
                session.add(row)
        except IntegrityError:
            row = _mine(session, user_id)
    if row is None:
        raise RuntimeError("calendar feed row vanished while being created")
    if row.token_hash != hashed:
        # A platform table: every statement names the tenant itself.
        session.execute(delete(CalendarFeedToken).where(CalendarFeedToken.tenant_id == tenant,
                                                        CalendarFeedToken.token_hash == row.token_hash))
        row.token_hash, row.last_fetched_at, row.updated_at = hashed, None, utcnow()
    session.add(CalendarFeedToken(token_hash=hashed, tenant_id=tenant))
    session.flush()
    return row, token


def revoke(session: Session, user_id: uuid.UUID) -> None:
    row = _mine(session, user_id)
    if row is None:
        return
    session.execute(delete(CalendarFeedToken).where(CalendarFeedToken.tenant_id == context.require_tenant(),
                                                    CalendarFeedToken.token_hash == row.token_hash))
    session.delete(row)
    session.flush()


def tenant_of(db: Database, token: str) -> tuple[uuid.UUID, str] | None:
    if not token or len(token) > MAX_TOKEN:
        return None
    hashed = secret_hash(token)
    with db.transaction() as session:  # calendar_feed_tokens: a platform table, read by the hash alone
        tenant = session.scalars(select(CalendarFeedToken.tenant_id).where(CalendarFeedToken.token_hash == hashed)).first()
    return (tenant, hashed) if tenant is not None else None


def items(session: Session, user_id: uuid.UUID, now: dt.datetime) -> tuple[list[Task], list[Meeting]]:
    """The user's open and recently done tasks, and the meetings they organise (recent and coming)."""
    tasks = list(session.scalars(
        select(Task).where(Task.assignee_id == user_id, or_(Task.due_at.is_not(None), Task.due_date.is_not(None)),
                           or_(Task.done.is_(False), Task.completed_at >= now - DONE_WINDOW))
        .order_by(Task.due_at, Task.id).limit(MAX_ITEMS)))
    meetings = list(session.scalars(
        select(Meeting).where(Meeting.author_id == user_id, Meeting.starts_at >= now - MEETING_WINDOW)
        .order_by(Meeting.starts_at, Meeting.id).limit(MAX_ITEMS)))
    return tasks, meetings


def render(session: Session, row: CalendarFeed, now: dt.datetime) -> bytes:
    tasks, meetings = items(session, row.user_id, now)
    # DTSTAMP = the newest change shown: an unchanged feed is the same bytes (and ETag).
    stamp = max([as_utc(row.updated_at), *(as_utc(t.updated_at) for t in tasks), *(as_utc(m.updated_at) for m in meetings)])
    if row.last_fetched_at is None or as_utc(row.last_fetched_at) < now - FETCH_NOTE_EVERY:
        # Bookkeeping, not a change of the feed: keep updated_at and version (which the stamp
        # reads), else the fetch after a noted one had a new DTSTAMP and ETag with nothing changed.
        session.execute(update(CalendarFeed).where(CalendarFeed.tenant_id == row.tenant_id, CalendarFeed.id == row.id)
                        .values(last_fetched_at=now, updated_at=CalendarFeed.updated_at)
                        .execution_options(synchronize_session=False))
    return feed(tasks, meetings, stamp.replace(microsecond=0))


def _not_found() -> NotFound:
    return NotFound("No such calendar.")


def serve(db: Database, token: str, now: dt.datetime) -> bytes:
    found = tenant_of(db, token)
    if found is None:
        raise _not_found()
    tenant, hashed = found
    with context.tenant_context(tenant), db.transaction() as session:
        row = session.scalars(select(CalendarFeed).where(CalendarFeed.token_hash == hashed)).first()
        if row is None:
            raise _not_found()
        # A deactivated user's feed is dead even before its revocation (on the user event) lands.
        user = session.scalars(select(UserReplica.active).where(UserReplica.id == row.user_id)).first()
        if user is False:
            raise _not_found()
        return render(session, row, now)


def register_calendar(bp: Blueprint, runtime: ServiceRuntime, now: Clock = utcnow) -> None:
    base = public_base(runtime.settings)

    def create() -> Response:
        require_scope(SCOPE)
        user = _user()
        with runtime.db.transaction() as session:
            row, token = issue(session, user)
            body = {**_state(row), "url": f"{base}{PUBLIC_PREFIX}{token}.ics"}
        return json_response(body, 201, {"Location": FEED_PATH, "Cache-Control": "no-store"})

    def show() -> Response:
        require_scope(SCOPE)
        user = _user()
        with runtime.db.transaction() as session:
            body = _state(session.scalars(select(CalendarFeed).where(CalendarFeed.user_id == user)).first())
        return json_response(body)

    def remove() -> Response:
        require_scope(SCOPE)
        user = _user()
        with runtime.db.transaction() as session:
            revoke(session, user)
        return Response(status=204)

    def calendar(token: str) -> Response:
        body = serve(runtime.db, token, now())
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers = {"ETag": etag, "Cache-Control": "private, max-age=300", "Content-Disposition": 'inline; filename="crm.ics"',
                   "X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}
        if etag in {t.strip() for t in (request.headers.get("If-None-Match") or "").split(",")}:
            return Response(status=304, headers=headers)
        return Response(body, status=200, content_type=CONTENT_TYPE, headers=headers)

    bp.add_url_rule(FEED_PATH, "calendar_feed_create", create, methods=["POST"])
    bp.add_url_rule(FEED_PATH, "calendar_feed_get", show, methods=["GET"])
    bp.add_url_rule(FEED_PATH, "calendar_feed_delete", remove, methods=["DELETE"])
    bp.add_url_rule(f"{PUBLIC_PREFIX}<token>.ics", "calendar_feed_ics", calendar, methods=["GET"])
    _document(runtime)


def _document(runtime: ServiceRuntime) -> None:
    doc = runtime.doc
    doc.operation(FEED_PATH, "post", summary="Create (or rotate) the caller's calendar feed: answers its secret URL "
                  "once; an earlier URL stops working", tag=TAG, scope=SCOPE, response=FeedStateSchema, status=201,
                  extra_responses={403: "An API key (no user) or a missing scope"})
    doc.operation(FEED_PATH, "get", summary="Whether the caller has a calendar feed (never its URL)", tag=TAG,
                  scope=SCOPE, response=FeedStateSchema)
    doc.operation(FEED_PATH, "delete", summary="Revoke the caller's calendar feed", tag=TAG, scope=SCOPE, status=204)
    doc.operation(f"{PUBLIC_PREFIX}{{token}}.ics", "get", summary="The calendar feed (RFC 5545): the user's open and "
                  "recently done tasks and their meetings; open path, the token is the credential", tag=TAG,
                  parameters=[{"name": "token", "in": "path", "required": True, "schema": {"type": "string"}},
                              {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}],
                  response_content={"text/calendar": {"schema": {"type": "string"}}},
                  extra_responses={304: "Unchanged since the ETag sent", 404: "No such calendar"})
