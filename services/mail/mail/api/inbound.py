"""Inbound mail: the raw-MIME webhook (POST /inbound/mime/{secret}, an open path: the secret picks
the tenant) and the tenant's stored messages (/v1/mail/inbound...)."""

from __future__ import annotations

import re
import urllib.parse

from flask import Blueprint, Response, request
from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from crm_core.errors import BadRequest, NotFound, PayloadTooLarge, ProblemError
from crm_core.metrics import metrics
from crm_http.auth import admin_only, require_scope
from crm_http.pagination import DEFAULT_LIMIT, MAX_LIMIT, paginate, parse_sort
from crm_http.parsing import parse_uuid, query_int
from crm_http.resource import LIST_PARAMS, json_response
from crm_runtime.service import ServiceRuntime
from mail.config import MailSettings
from mail.models import InboundAttachment, InboundMessage
from mail.schemas.inbound import InboundSchema, InboundSummarySchema, inbound_detail, inbound_summary
from mail.service import mailboxes
from mail.service.inbound import Receiver
from mail.service.parsing import KINDS
from mail.service.routing import route_in_mailbox

TAG = "Inbound mail"
BASE = "/v1/mail/inbound"
READ = "mail:read"
MIME_TYPES = ("message/rfc822", "application/octet-stream", "text/plain")
SAFE_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")


def _disposition(filename: str | None, fallback: str) -> str:
    name = filename or fallback
    ascii_name = re.sub(r'[^A-Za-z0-9._ -]', "_", name)[:150] or fallback
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{urllib.parse.quote(name[:200], safe='')}"


def _download(data: bytes, content_type: str, disposition: str) -> Response:
    resp = Response(data, status=200)
    resp.headers["Content-Type"] = content_type
    resp.headers["Content-Disposition"] = disposition
    # Never rendered by a browser as a page of ours (an attachment may be HTML with scripts).
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return resp


def register(bp: Blueprint, runtime: ServiceRuntime) -> None:
    settings = MailSettings.from_settings(runtime.settings)
    receiver = Receiver(runtime.db, runtime.outbox, settings)
    summary_only = [defer(InboundMessage.raw), defer(InboundMessage.text), defer(InboundMessage.html)]

    def receive_mime(secret: str) -> Response:
        if request.mimetype not in MIME_TYPES:
            raise ProblemError(f"Send the raw message as one of {', '.join(MIME_TYPES)}.", status=415,
                               title="Unsupported Media Type")
        limit = settings.max_message_bytes
        if request.content_length is not None and request.content_length > limit:
            raise PayloadTooLarge(f"The message is larger than the limit of {limit} bytes.")
        with runtime.db.transaction() as session:  # mailboxes: a platform table, read by the secret alone
            box = mailboxes.by_secret(session, secret)
        if box is None:
            raise NotFound("No inbound webhook has this secret (it may have been rotated).")
        request.max_content_length = limit  # this route only: the app's 1 MiB cap is for JSON
        raw = request.get_data(cache=False)
        if len(raw) > limit:
            metrics().mail_inbound.labels("oversize", "webhook").inc()
            raise PayloadTooLarge(f"The message is larger than the limit of {limit} bytes.")
        if not raw.strip():
            raise BadRequest("The body is empty; send the raw RFC 5322 message.", errors={"_body": ["Empty."]})
        parsed = receiver.parse(raw, None)
        route = route_in_mailbox(box, parsed, settings.inbound_domain)
        ids = receiver.deliver(raw, None, [route], parsed)
        metrics().mail_inbound.labels("accepted", "webhook").inc()
        return json_response({"id": str(ids[0]), "mailbox": route.mailbox, "tag": route.tag, "token": route.token,
                              "kind": parsed.kind, "recipient": route.recipient}, 202,
                             {"Location": f"{BASE}/{ids[0]}"})

    def list_inbound() -> Response:
        require_scope(READ)
        limit = query_int("limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
        stmt = select(InboundMessage).options(*summary_only)
        kind = request.args.get("kind")
        if kind is not None:
            if kind not in KINDS:
                raise BadRequest(f"Unknown kind {kind!r}.", errors={"kind": [f"One of: {', '.join(KINDS)}."]})
            stmt = stmt.where(InboundMessage.kind == kind)
        tag = request.args.get("tag")
        if tag is not None:
            stmt = stmt.where(InboundMessage.tag.is_(None) if tag in ("", "none") else InboundMessage.tag == tag[:40])
        keys = parse_sort(None, {"created_at": InboundMessage.created_at}, "-created_at", InboundMessage.id)
        with runtime.db.transaction() as session:
            rows, next_cursor = paginate(session, stmt, keys, limit, request.args.get("cursor"))
            data = [inbound_summary(r) for r in rows]
        return json_response({"data": data, "next_cursor": next_cursor})

    def _get(session: Session, record_id: str) -> InboundMessage:
        mid = parse_uuid(record_id, "inbound message")
        row = session.scalars(select(InboundMessage).where(InboundMessage.id == mid)).first()
        if row is None:
            raise NotFound(f"No inbound message with id {record_id!r}.")
        return row

    def read(record_id: str) -> Response:
        require_scope(READ)
        with runtime.db.transaction() as session:
            row = _get(session, record_id)
            attachments = session.scalars(select(InboundAttachment).options(defer(InboundAttachment.data)).where(
                InboundAttachment.inbound_message_id == row.id).order_by(InboundAttachment.id))
            return json_response(inbound_detail(row, list(attachments)))

    def attachment(record_id: str, attachment_id: str) -> Response:
        require_scope(READ)
        mid, aid = parse_uuid(record_id, "inbound message"), parse_uuid(attachment_id, "attachment")
        with runtime.db.transaction() as session:
            found = session.scalars(select(InboundAttachment).where(
                InboundAttachment.id == aid, InboundAttachment.inbound_message_id == mid)).first()
            if found is None:
                raise NotFound(f"No attachment with id {attachment_id!r} on inbound message {record_id!r}.")
            ctype = found.content_type.lower() if SAFE_TYPE.match(found.content_type.lower()) else "application/octet-stream"
            return _download(found.data, ctype, _disposition(found.filename, f"attachment-{aid}"))

    @admin_only
    def raw(record_id: str) -> Response:
        with runtime.db.transaction() as session:
            row = _get(session, record_id)
            return _download(row.raw, "message/rfc822", _disposition(None, f"{row.id}.eml"))

    bp.add_url_rule("/inbound/mime/<secret>", "mail_inbound_mime", receive_mime, methods=["POST"])
    bp.add_url_rule(BASE, "mail_inbound_list", list_inbound, methods=["GET"])
    bp.add_url_rule(f"{BASE}/<record_id>", "mail_inbound_get", read, methods=["GET"])
    bp.add_url_rule(f"{BASE}/<record_id>/attachments/<attachment_id>", "mail_inbound_attachment", attachment,
                    methods=["GET"])
    bp.add_url_rule(f"{BASE}/<record_id>/raw", "mail_inbound_raw", raw, methods=["GET"])
    _document(runtime)


def _document(runtime: ServiceRuntime) -> None:
    doc = runtime.doc
    rid = {"name": "record_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
    aid = {"name": "attachment_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
    secret = {"name": "secret", "in": "path", "required": True, "schema": {"type": "string"}}
    kind = {"name": "kind", "in": "query", "schema": {"type": "string", "enum": list(KINDS)}}
    tag = {"name": "tag", "in": "query", "schema": {"type": "string"},
           "description": "support, log, deal, t, b, ...; `none` for untagged mail"}
    paging = [p for p in LIST_PARAMS if p["name"] in ("limit", "cursor")]
    raw_body = {t: {"schema": {"type": "string", "format": "binary"}} for t in MIME_TYPES}
    doc.operation("/inbound/mime/{secret}", "post", summary="Receive a raw RFC 5322 message (mail providers' "
                  "inbound webhooks; open path, the secret picks the tenant)", tag=TAG, parameters=[secret],
                  request_content=raw_body, status=202,
                  extra_responses={404: "Unknown secret", 413: "Too large", 415: "Not a raw message"})
    doc.operation(BASE, "get", summary="List inbound messages, newest first", tag=TAG, scope=READ,
                  response=InboundSummarySchema, list_of=True, parameters=[*paging, kind, tag])
    doc.operation(f"{BASE}/{{record_id}}", "get", summary="An inbound message: parsed fields, sanitised HTML, "
                  "attachments", tag=TAG, scope=READ, response=InboundSchema, parameters=[rid],
                  extra_responses={404: "Not found"})
    doc.operation(f"{BASE}/{{record_id}}/attachments/{{attachment_id}}", "get", summary="Download an attachment",
                  tag=TAG, scope=READ, parameters=[rid, aid], response_content={"application/octet-stream": {
                      "schema": {"type": "string", "format": "binary"}}}, extra_responses={404: "Not found"})
    doc.operation(f"{BASE}/{{record_id}}/raw", "get", summary="The message as received (admins)", tag=TAG,
                  parameters=[rid], response_content={"message/rfc822": {"schema": {"type": "string"}}},
                  extra_responses={403: "Not an admin", 404: "Not found"})
