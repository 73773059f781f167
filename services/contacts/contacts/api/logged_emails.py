"""/v1/logged-emails: mail users logged by BCC to <mailbox>+log@, matched to contacts or waiting for one."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from contacts.models import LoggedEmail
from contacts.schemas.logged_emails import STATUSES, AssignSchema, LoggedEmailDetailSchema, LoggedEmailSchema
from contacts.service.activities import party_services
from contacts.service.mail_log import assign
from crm_core.errors import BadRequest, NotFound
from crm_http.auth import require_scope
from crm_http.pagination import DEFAULT_LIMIT, MAX_LIMIT, paginate, parse_sort
from crm_http.parsing import load, parse_uuid, query_int
from crm_http.resource import json_response, record_response
from crm_runtime.service import ServiceRuntime

TAG = "Logged emails"
BASE = "/v1/logged-emails"
ID_PARAM = {"name": "email_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"},
            "description": "The logged email's id (the mail service's inbound message id)"}
LIST_PARAMS = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}},
    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
    {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(STATUSES)},
     "description": "`unmatched`: logged mail no contact's address took part in (yet); `matched`; both if absent"},
    {"name": "thread_id", "in": "query", "schema": {"type": "string", "format": "uuid"}},
    {"name": "sort", "in": "query", "schema": {"type": "string", "enum": ["-occurred_at", "occurred_at"],
                                               "default": "-occurred_at"}},
]


def _filters() -> tuple[str | None, uuid.UUID | None]:
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        raise BadRequest(f"Unknown status {status!r}; use {' or '.join(STATUSES)}.",
                         errors={"status": [f"Unknown status {status!r}."]})
    raw = request.args.get("thread_id") or None
    try:
        thread = uuid.UUID(raw) if raw else None
    except ValueError:
        raise BadRequest("thread_id must be a UUID.", errors={"thread_id": ["Not a UUID."]}) from None
    return status, thread


def _find(session: Session, raw_id: str, *, lock: bool = False) -> LoggedEmail:
    email_id = parse_uuid(raw_id, "logged email")
    stmt = select(LoggedEmail).where(LoggedEmail.id == email_id)
    found = session.scalars(stmt.with_for_update() if lock else stmt).first()
    if found is None:  # another tenant's id too: never 403
        raise NotFound(f"No logged email with id {email_id}.")
    return found


def register(bp: Blueprint, runtime: ServiceRuntime) -> None:
    brief, detail, assign_schema = LoggedEmailSchema(), LoggedEmailDetailSchema(), AssignSchema()

    def listing() -> Response:
        require_scope("contacts:read")
        limit = query_int("limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
        keys = parse_sort(request.args.get("sort"), {"occurred_at": LoggedEmail.occurred_at}, "-occurred_at",
                          LoggedEmail.id)
        status, thread = _filters()
        stmt = select(LoggedEmail)
        if status is not None:
            stmt = stmt.where(LoggedEmail.status == status)
        if thread is not None:
            stmt = stmt.where(LoggedEmail.thread_id == thread)
        with runtime.db.transaction() as session:
            rows, next_cursor = paginate(session, stmt, keys, limit, request.args.get("cursor"))
            data = [brief.dump(r) for r in rows]
        return json_response({"data": data, "next_cursor": next_cursor})

    def read(email_id: str) -> Response:
        require_scope("contacts:read")
        with runtime.db.transaction() as session:
            body = detail.dump(_find(session, email_id))
        return record_response(body)

    def attach(email_id: str) -> Response:
        require_scope("contacts:write")
        values: dict[str, Any] = load(assign_schema)
        with runtime.db.transaction() as session:
            _find(session, email_id)  # 404 before anything else is looked at or locked
            # The contact first (live: a merged id is 409 naming `merged_into`), then the email: the lock order.
            contact = party_services(runtime.outbox)[0].live(session, values["contact_id"], lock=True)
            row = assign(session, runtime.outbox, _find(session, email_id, lock=True), contact)
            body = detail.dump(row)
        return record_response(body)

    bp.add_url_rule(BASE, "logged_emails_list", listing, methods=["GET"])
    bp.add_url_rule(f"{BASE}/<email_id>", "logged_emails_get", read, methods=["GET"])
    bp.add_url_rule(f"{BASE}/<email_id>/assign", "logged_emails_assign", attach, methods=["POST"])
    doc = runtime.doc
    doc.operation(BASE, "get", summary="Mail logged by BCC to <mailbox>+log@, newest first", tag=TAG,
                  scope="contacts:read", response=LoggedEmailSchema, list_of=True, parameters=LIST_PARAMS,
                  extra_responses={400: "Unknown status, or a thread_id that is no UUID"})
    doc.operation(f"{BASE}/{{email_id}}", "get", summary="A logged email, with its text", tag=TAG,
                  scope="contacts:read", response=LoggedEmailDetailSchema, parameters=[ID_PARAM],
                  extra_responses={404: "Not found"})
    doc.operation(f"{BASE}/{{email_id}}/assign", "post", summary="Log it on a contact by hand (and mark it matched)",
                  tag=TAG, scope="contacts:write", request=AssignSchema, response=LoggedEmailDetailSchema,
                  parameters=[ID_PARAM],
                  extra_responses={404: "No such logged email or contact", 409: "The contact was merged (`merged_into`)",
                                   410: "The contact was erased", 422: "contact_id missing or no UUID"})
