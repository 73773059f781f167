"""In-app notifications: written by reminders and assignments, read by their user only.

`GET /v1/notifications` (the caller's, newest first, with `unread_count`), `POST
/v1/notifications/{id}/read`, `POST /v1/notifications/read-all`. Another user's notification is
404 like another tenant's: the query is scoped to the tenant (criteria and RLS) and to the caller.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, request
from marshmallow import Schema, fields
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from crm_core import context
from crm_core.errors import Forbidden, NotFound
from crm_core.ids import uuid7
from crm_db.base import utcnow
from crm_events.outbox import Outbox
from crm_http.auth import require_scope
from crm_http.fields import UtcDateTime
from crm_http.pagination import DEFAULT_LIMIT, MAX_LIMIT, paginate, parse_sort
from crm_http.parsing import parse_uuid, query_int
from crm_http.resource import LIST_PARAMS, json_response
from crm_runtime.service import ServiceRuntime
from pipeline.filters import as_bool
from pipeline.models.reminders import NOTIFICATION_KINDS, Notification

AREA = "pipeline"


class NotificationSchema(Schema):
    id = fields.UUID()
    kind = fields.String(metadata={"description": "One of " + ", ".join(NOTIFICATION_KINDS) + "; more may come"})
    title = fields.String()
    body = fields.String(allow_none=True)
    subject_type = fields.String()
    subject_id = fields.UUID()
    actor_id = fields.UUID(allow_none=True)
    data = fields.Dict()
    read = fields.Function(lambda n: n.read_at is not None, metadata={"type": "boolean"})
    read_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()


class NotificationListSchema(Schema):
    data = fields.List(fields.Nested(NotificationSchema))
    next_cursor = fields.String(allow_none=True)
    unread_count = fields.Integer()


def notification_row(*, user_id: uuid.UUID, kind: str, title: str, subject_type: str, subject_id: uuid.UUID,
                     body: str | None = None, actor_id: uuid.UUID | None = None,
                     data: dict[str, Any] | None = None) -> dict[str, Any]:
    now = utcnow()
    return {"tenant_id": context.require_tenant(), "id": uuid7(), "user_id": user_id, "kind": kind, "title": title[:500],
            "body": body, "subject_type": subject_type, "subject_id": subject_id, "actor_id": actor_id,
            "data": data or {}, "read_at": None, "created_at": now, "updated_at": now, "version": 1}


def add_notifications(session: Session, outbox: Outbox, rows: list[dict[str, Any]]) -> None:
    """Notifications in the caller's transaction, each with its crm.notification.created event (what
    a push or webhook consumer would deliver): one INSERT and one outbox write for all of them."""
    if not rows:
        return
    session.execute(insert(Notification.__table__), rows)
    outbox.emit_many(session, "crm.notification.created", [(r["id"], {
        k: r[k] for k in ("id", "user_id", "kind", "title", "body", "subject_type", "subject_id", "actor_id")}) for r in rows])


def notify(session: Session, outbox: Outbox, **fields: Any) -> uuid.UUID:
    """One notification (see notification_row for the fields); its id."""
    row = notification_row(**fields)
    add_notifications(session, outbox, [row])
    return uuid.UUID(str(row["id"]))


def caller() -> uuid.UUID:
    """The signed-in user; an API key has no inbox."""
    principal = context.current_principal()
    if principal is None or principal.user_id is None:
        raise Forbidden("Only a signed-in user has notifications and an agenda (not an API key).")
    return principal.user_id


def register_notifications(bp: Blueprint, runtime: ServiceRuntime) -> None:
    out = NotificationSchema()
    doc = runtime.doc

    def list_notifications() -> Response:
        require_scope(f"{AREA}:read")
        user = caller()
        limit = query_int("limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
        keys = parse_sort(None, {"created_at": Notification.created_at}, "-created_at", Notification.id)
        stmt = select(Notification).where(Notification.user_id == user)
        raw = request.args.get("unread", "")
        if raw != "" and as_bool("unread", raw):
            stmt = stmt.where(Notification.read_at.is_(None))
        with runtime.db.transaction() as session:
            rows, next_cursor = paginate(session, stmt, keys, limit, request.args.get("cursor"))
            unread = session.scalar(select(func.count()).select_from(Notification).where(
                Notification.user_id == user, Notification.read_at.is_(None)))
            data = [out.dump(r) for r in rows]
        return json_response({"data": data, "next_cursor": next_cursor, "unread_count": unread or 0})

    def read_one(notification_id: str) -> Response:
        require_scope(f"{AREA}:write")
        user, nid = caller(), parse_uuid(notification_id, "notification")
        with runtime.db.transaction() as session:
            note = session.scalars(select(Notification).where(Notification.id == nid, Notification.user_id == user)).first()
            if note is None:
                raise NotFound(f"No notification with id {nid}.")
            if note.read_at is None:
                note.read_at = utcnow()
                session.flush()
            body = out.dump(note)
        return json_response(body)

    def read_all() -> Response:
        require_scope(f"{AREA}:write")
        user = caller()
        with runtime.db.transaction() as session:
            result = session.execute(update(Notification).where(Notification.user_id == user, Notification.read_at.is_(None))
                                     .values(read_at=utcnow(), version=Notification.version + 1)
                                     .execution_options(synchronize_session=False))
            count = int(result.rowcount or 0)  # type: ignore[attr-defined]
        return json_response({"updated": count, "unread_count": 0})

    bp.add_url_rule("/v1/notifications", "list_notifications", list_notifications, methods=["GET"])
    bp.add_url_rule("/v1/notifications/read-all", "read_all_notifications", read_all, methods=["POST"])
    bp.add_url_rule("/v1/notifications/<notification_id>/read", "read_notification", read_one, methods=["POST"])
    tag = "Notifications"
    unread = {"name": "unread", "in": "query", "schema": {"type": "boolean"}, "description": "Only unread ones."}
    doc.operation("/v1/notifications", "get", summary="The caller's notifications, newest first, with the unread count",
                  tag=tag, scope=f"{AREA}:read", response=NotificationListSchema, parameters=[*LIST_PARAMS, unread])
    doc.operation("/v1/notifications/read-all", "post", summary="Mark all the caller's notifications read", tag=tag,
                  scope=f"{AREA}:write")
    doc.operation("/v1/notifications/{notification_id}/read", "post", summary="Mark one of the caller's notifications read",
                  tag=tag, scope=f"{AREA}:write", response=NotificationSchema,
                  parameters=[{"name": "notification_id", "in": "path", "required": True,
                               "schema": {"type": "string", "format": "uuid"}}], extra_responses={404: "Not found"})
