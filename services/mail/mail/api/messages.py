"""/v1/mail/messages: what the platform sent (or is sending) for the tenant, with attempts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy import Select, select
from sqlalchemy.orm import InstrumentedAttribute, defer

from crm_core.errors import BadRequest, NotFound
from crm_http.auth import require_admin_access, require_scope
from crm_http.pagination import DEFAULT_LIMIT, MAX_LIMIT, paginate, parse_sort
from crm_http.parsing import parse_uuid, query_int
from crm_http.resource import LIST_PARAMS, json_response
from crm_runtime.service import ServiceRuntime
from mail.models import PURPOSES, STATUSES, MailAttempt, MailMessage
from mail.schemas.messages import attempt_log, message_body

TAG = "Mail"
BASE = "/v1/mail/messages"
READ, WRITE = "mail:read", "mail:write"
PAGING = [p for p in LIST_PARAMS if p["name"] != "sort"]
ID_PARAM = [{"name": "record_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}]


def choice(name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.args.get(name)
    if value is not None and value not in allowed:
        raise BadRequest(f"Unknown {name} {value!r}.", errors={name: [f"One of: {', '.join(allowed)}."]})
    return value


def listing(runtime: ServiceRuntime, stmt: Select[Any], model: Any, body: Callable[[Any], dict[str, Any]],
            created: InstrumentedAttribute[Any]) -> Response:
    """A newest-first cursor page of `stmt` (ORM entities of the current tenant)."""
    limit = query_int("limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
    keys = parse_sort(None, {"created_at": created}, "-created_at", model.id)
    with runtime.db.transaction() as session:
        rows, next_cursor = paginate(session, stmt, keys, limit, request.args.get("cursor"))
        data = [body(r) for r in rows]
    return json_response({"data": data, "next_cursor": next_cursor})


def register(bp: Blueprint, runtime: ServiceRuntime) -> None:
    def list_messages() -> Response:
        require_scope(READ)
        stmt = select(MailMessage).options(defer(MailMessage.mime))
        if (status := choice("status", STATUSES)) is not None:
            stmt = stmt.where(MailMessage.status == status)
        if (purpose := choice("purpose", PURPOSES)) is not None:
            stmt = stmt.where(MailMessage.purpose == purpose)
        kind, rid = request.args.get("refers_to_type"), request.args.get("refers_to_id")
        if rid and not kind:
            raise BadRequest("refers_to_id needs refers_to_type.", errors={"refers_to_type": ["Required with refers_to_id."]})
        if kind:
            stmt = stmt.where(MailMessage.refers_to_type == kind)
        if rid:
            stmt = stmt.where(MailMessage.refers_to_id == rid)
        return listing(runtime, stmt, MailMessage, message_body, MailMessage.created_at)

    def find(session: Any, record_id: str, *, raw: bool = False) -> MailMessage:
        mid = parse_uuid(record_id, "message")
        stmt = select(MailMessage).where(MailMessage.id == mid)
        found = session.scalars(stmt if raw else stmt.options(defer(MailMessage.mime))).first()
        if found is None:
            raise NotFound(f"No message with id {record_id!r}.")
        return found

    def read_message(record_id: str) -> Response:
        require_scope(READ)
        with runtime.db.transaction() as session:
            message = find(session, record_id)
            # mail_attempts is not TenantScoped (no ORM criteria): name the tenant.
            attempts = session.scalars(select(MailAttempt).where(MailAttempt.tenant_id == message.tenant_id,
                                                                 MailAttempt.message_id == message.id))
            body = {**message_body(message), "attempt_log": attempt_log(attempts)}
        return json_response(body)

    def raw_message(record_id: str) -> Response:
        require_scope(READ)
        require_admin_access()  # the whole message, attachments and all
        with runtime.db.transaction() as session:
            message = find(session, record_id, raw=True)
            if message.mime is None:
                raise NotFound("This message was never rendered (every recipient was suppressed).")
            return Response(message.mime, mimetype="message/rfc822",
                            headers={"Content-Disposition": f'attachment; filename="{message.id}.eml"'})

    bp.add_url_rule(BASE, "mail_messages_list", list_messages, methods=["GET"])
    bp.add_url_rule(f"{BASE}/<record_id>", "mail_messages_get", read_message, methods=["GET"])
    bp.add_url_rule(f"{BASE}/<record_id>/raw", "mail_messages_raw", raw_message, methods=["GET"])
    doc = runtime.doc
    filters = [{"name": "status", "in": "query", "schema": {"type": "string", "enum": list(STATUSES)}},
               {"name": "purpose", "in": "query", "schema": {"type": "string", "enum": list(PURPOSES)}},
               {"name": "refers_to_type", "in": "query", "schema": {"type": "string"}},
               {"name": "refers_to_id", "in": "query", "schema": {"type": "string"}}]
    doc.operation(BASE, "get", summary="List messages, newest first", tag=TAG, scope=READ, parameters=[*PAGING, *filters])
    doc.operation(f"{BASE}/{{record_id}}", "get", summary="Get a message with its attempts", tag=TAG, scope=READ,
                  parameters=ID_PARAM, extra_responses={404: "Not found"})
    doc.operation(f"{BASE}/{{record_id}}/raw", "get", summary="The message as sent (.eml; owners and admins)",
                  tag=TAG, scope=READ, parameters=ID_PARAM, extra_responses={404: "Not found"})
