"""Routes of the conversations area: /v1/tickets/{id}/messages (the timeline: public replies,
internal notes, the customer's messages) and the files attached to them."""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy import select

from crm_core import context
from crm_core.errors import BadRequest, NotFound
from crm_http.auth import require_scope
from crm_http.idempotency import idempotent
from crm_http.pagination import DEFAULT_LIMIT, MAX_LIMIT, paginate, parse_sort
from crm_http.parsing import load, parse_uuid, query_int
from crm_http.resource import LIST_PARAMS, json_response
from crm_runtime.service import ServiceRuntime
from tickets.models.conversations import MESSAGE_KINDS, TicketAttachment, TicketMessage
from tickets.schemas.conversations import MessageInSchema, MessageListSchema, MessageSchema
from tickets.service.conversations import post_agent_message
from tickets.service.desk import Desk

TAG = "Ticket messages"
BASE = "/v1/tickets/<ticket_id>/messages"
SAFE_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")


def message_out(message: TicketMessage) -> dict[str, Any]:
    return {
        "id": message.id, "ticket_id": message.ticket_id, "kind": message.kind,
        "author": {"type": message.author_type, "id": message.author_id, "email": message.author_email,
                   "name": message.author_name},
        "channel": message.channel, "text": message.body_text, "html": message.body_html, "to": list(message.to),
        "cc": list(message.cc), "attachments": list(message.attachments), "mentions": list(message.mentions),
        "message_id": message.message_id, "in_reply_to": message.in_reply_to, "created_at": message.created_at,
    }


def _download(data: bytes, content_type: str, filename: str) -> Response:
    resp = Response(data, status=200)
    ctype = content_type.lower()
    resp.headers["Content-Type"] = ctype if SAFE_TYPE.match(ctype) else "application/octet-stream"
    ascii_name = re.sub(r"[^A-Za-z0-9._ -]", "_", filename)[:150] or "attachment"
    resp.headers["Content-Disposition"] = (f"attachment; filename=\"{ascii_name}\"; "
                                           f"filename*=UTF-8''{urllib.parse.quote(filename[:200], safe='')}")
    # Never rendered as a page of ours (an attachment may be HTML with scripts).
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return resp


def register(bp: Blueprint, runtime: ServiceRuntime, desk: Desk) -> None:
    schema_in, schema_out = MessageInSchema(), MessageSchema()

    def list_messages(ticket_id: str) -> Response:
        require_scope("tickets:read")
        tid = parse_uuid(ticket_id, "ticket")
        limit = query_int("limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
        stmt = select(TicketMessage).where(TicketMessage.ticket_id == tid)
        kind = request.args.get("kind")
        if kind:
            if kind not in MESSAGE_KINDS:
                raise BadRequest(f"Query parameter 'kind' must be one of: {', '.join(MESSAGE_KINDS)}.",
                                 errors={"kind": [f"Unknown value {kind!r}."]})
            stmt = stmt.where(TicketMessage.kind == kind)
        # Oldest first: a conversation reads top to bottom.
        keys = parse_sort(None, {"created_at": TicketMessage.created_at}, "created_at", TicketMessage.id)
        with runtime.db.transaction() as session:
            desk.tickets.get(session, tid)  # 404 for another tenant's ticket (and an unknown one)
            rows, next_cursor = paginate(session, stmt, keys, limit, request.args.get("cursor"))
            data = [schema_out.dump(message_out(m)) for m in rows]
        return json_response({"data": data, "next_cursor": next_cursor})

    def post_message(ticket_id: str) -> Response:
        require_scope("tickets:write")
        tid = parse_uuid(ticket_id, "ticket")
        values = load(schema_in)
        principal = context.current_principal()
        with runtime.db.transaction() as session:
            ticket = desk.tickets.get(session, tid, for_update=True)
            message = post_agent_message(
                session, desk, ticket, kind=values["kind"], text=values.get("text"), html=values.get("html"),
                cc=values.get("cc"), attachments=values.get("attachments") or (), status=values.get("status"),
                mentions=values.get("mentions") or (), author_id=principal.user_id if principal else None)
            body = schema_out.dump(message_out(message))
        return json_response(body, 201, {"Location": f"/v1/tickets/{tid}/messages/{body['id']}"})

    def get_message(ticket_id: str, message_id: str) -> Response:
        require_scope("tickets:read")
        tid, mid = parse_uuid(ticket_id, "ticket"), parse_uuid(message_id, "message")
        with runtime.db.transaction() as session:
            found = session.scalars(select(TicketMessage).where(TicketMessage.id == mid,
                                                                TicketMessage.ticket_id == tid)).first()
            if found is None:
                raise NotFound(f"No message with id {message_id!r} on ticket {ticket_id!r}.")
            return json_response(schema_out.dump(message_out(found)))

    def attachment(ticket_id: str, attachment_id: str) -> Response:
        require_scope("tickets:read")
        tid, aid = parse_uuid(ticket_id, "ticket"), parse_uuid(attachment_id, "attachment")
        with runtime.db.transaction() as session:
            found = session.scalars(select(TicketAttachment).where(TicketAttachment.id == aid,
                                                                   TicketAttachment.ticket_id == tid)).first()
            if found is None:
                raise NotFound(f"No attachment with id {attachment_id!r} on ticket {ticket_id!r}.")
            return _download(found.data, found.content_type, found.filename)

    bp.add_url_rule(BASE, "ticket_messages_list", list_messages, methods=["GET"])
    bp.add_url_rule(BASE, "ticket_messages_create",
                    idempotent(lambda: runtime.db, lambda: runtime.idempotency)(post_message), methods=["POST"])
    bp.add_url_rule(f"{BASE}/<message_id>", "ticket_messages_get", get_message, methods=["GET"])
    bp.add_url_rule("/v1/tickets/<ticket_id>/attachments/<attachment_id>", "ticket_attachment", attachment,
                    methods=["GET"])
    _document(runtime)


def _document(runtime: ServiceRuntime) -> None:
    doc = runtime.doc
    tid = {"name": "ticket_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
    mid = {"name": "message_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
    aid = {"name": "attachment_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
    kind = {"name": "kind", "in": "query", "schema": {"type": "string", "enum": list(MESSAGE_KINDS)}}
    paging = [p for p in LIST_PARAMS if p["name"] in ("limit", "cursor")]
    base = "/v1/tickets/{ticket_id}/messages"
    doc.operation(base, "get", summary="The ticket's timeline, oldest first: replies, notes, customer messages",
                  tag=TAG, scope="tickets:read", response=MessageListSchema, parameters=[tid, *paging, kind],
                  extra_responses={404: "No such ticket"})
    doc.operation(base, "post", summary="Reply (emailed to the requester and cc's) or add an internal note "
                  "(@[Name](user-id) mentions notify); optionally set the status", tag=TAG, scope="tickets:write",
                  request=MessageInSchema, response=MessageSchema, status=201, parameters=[tid],
                  extra_responses={404: "No such ticket", 422: "Invalid message"})
    doc.operation(f"{base}/{{message_id}}", "get", summary="One message of the ticket", tag=TAG,
                  scope="tickets:read", response=MessageSchema, parameters=[tid, mid],
                  extra_responses={404: "Not found"})
    doc.operation("/v1/tickets/{ticket_id}/attachments/{attachment_id}", "get",
                  summary="Download a file attached to one of the ticket's messages", tag=TAG, scope="tickets:read",
                  parameters=[tid, aid], response_content={"application/octet-stream": {
                      "schema": {"type": "string", "format": "binary"}}}, extra_responses={404: "Not found"})
