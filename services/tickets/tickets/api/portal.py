"""The customer portal's routes (open paths: the gateway forwards /portal/ without a staff
credential, under the public principal).

Every route finds its tenant from the mailbox in the path (portal_mailboxes) and runs in that
tenant's context; the portal session (tickets.service.portal) is read from the `crm_portal`
cookie, `Authorization: Bearer cps_...` or `X-Portal-Session`, and looked up in that tenant only,
so a session of tenant A is unknown on tenant B's mailbox. JSON by default; a browser (Accept:
text/html) gets small server-rendered pages with plain forms.

  POST   /portal/{mailbox}/login                      {email} -> 202, always the same answer
  GET    /portal/{mailbox}/login                      the sign-in form (HTML)
  GET    /portal/{mailbox}/session/{token}            the emailed link: a page whose button signs in
  POST   /portal/{mailbox}/session                    {token} -> the session (cookie + token)
  GET    /portal/{mailbox}/session                    who is signed in
  DELETE /portal/{mailbox}/session                    sign out (also POST .../session/logout)
  GET    /portal/{mailbox}/tickets                    the session's tickets
  POST   /portal/{mailbox}/tickets                    open one {subject, text, attachments?}
  GET    /portal/{mailbox}/tickets/{number}           one, with its public conversation
  POST   /portal/{mailbox}/tickets/{number}/messages  reply {text, attachments?}
  GET    /portal/{mailbox}/tickets/{number}/attachments/{id}
  GET    /v1/portal/attachments/{id}                  staff: a file a customer attached
"""

from __future__ import annotations

import contextlib
import html
import uuid
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, redirect, request
from sqlalchemy import select

from crm_core import context
from crm_core.errors import NotFound, ProblemError, Unauthorized, validation_error
from crm_db.base import as_utc, utc_iso
from crm_http.auth import require_scope
from crm_http.pagination import DEFAULT_LIMIT, MAX_LIMIT, paginate, parse_sort
from crm_http.parsing import json_body, load, parse_uuid, query_int
from crm_http.resource import json_response
from crm_runtime.service import ServiceRuntime
from tickets.api.portal_docs import document
from tickets.api.portal_pages import file_response, page, ticket_html, tickets_html, wants_html
from tickets.models import STATUSES, Ticket
from tickets.models.conversations import TicketMessage
from tickets.models.portal import PortalAttachment, PortalSession
from tickets.schemas.portal import (
    PortalLoginSchema,
    PortalReplySchema,
    PortalTicketCreateSchema,
    SessionExchangeSchema,
)
from tickets.service import portal as svc
from tickets.service.desk import Desk
from tickets.service.portal_mailboxes import tenant_for_mailbox

PREFIX = "/portal/<mailbox>"
LOGIN_ANSWER = {"status": "accepted", "detail": "If this address is known to us, a sign-in link is on its way."}


def credential() -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.headers.get("X-Portal-Session") or request.cookies.get(svc.COOKIE)


def form_or_json() -> dict[str, Any]:
    """The body as a dict: JSON, or an HTML form / multipart (its files under `_files`)."""
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        data: dict[str, Any] = {k: v for k, v in request.form.items() if v != ""}
        files = [f for name in ("attachments", "file", "files") for f in request.files.getlist(name) if f.filename]
        if files:
            data["_files"] = files
        return data
    body = json_body()
    if not isinstance(body, dict):
        raise validation_error({"_body": ["Expected a JSON object."]})
    return body


def iso(value: Any) -> str | None:
    return utc_iso(as_utc(value)) if value is not None else None


def register(bp: Blueprint, runtime: ServiceRuntime, desk: Desk) -> None:
    config = svc.PortalConfig.from_settings(runtime.settings)
    db = runtime.db

    def tenant_of(mailbox: str) -> uuid.UUID:
        with db.transaction() as session:  # portal_mailboxes: a platform table, read by the name alone
            tenant = tenant_for_mailbox(session, mailbox)
        if tenant is None:
            raise NotFound("No such portal.")
        return tenant

    @contextlib.contextmanager
    def portal(mailbox: str, *, signed_in: bool = True) -> Iterator[tuple[Any, PortalSession | None]]:
        tenant = tenant_of(mailbox)
        with context.tenant_context(tenant), db.transaction() as session:
            row = svc.authenticate(session, credential())
            if signed_in and row is None:
                raise Unauthorized("Sign in to the portal first: POST /portal/{mailbox}/login.",
                                   headers={"WWW-Authenticate": 'Bearer realm="portal"'})
            yield session, row

    def cookie_path(mailbox: str) -> str:
        return f"/portal/{mailbox}/"

    def signed_in_or_login(mailbox: str, error: ProblemError) -> Response:
        """A browser without a session goes to the sign-in page; an API client gets the problem."""
        if wants_html() and isinstance(error, Unauthorized):
            return redirect(f"/portal/{mailbox}/login", 303)
        raise error

    # --- sign-in ---------------------------------------------------------------------------------

    def login_form(mailbox: str) -> Response:
        tenant_of(mailbox)
        return page("Sign in to the support portal", (
            f'<form method="post" action="/portal/{html.escape(mailbox)}/login">'
            '<label for="email">Your email address</label>'
            '<input id="email" name="email" type="email" autocomplete="email" required>'
            "<button type=\"submit\">Email me a sign-in link</button></form>"))

    def login(mailbox: str) -> Response:
        tenant = tenant_of(mailbox)
        data = load(PortalLoginSchema(), form_or_json())
        with context.tenant_context(tenant), db.transaction() as session:
            svc.request_login(session, desk, config, tenant, mailbox, data["email"])
        if wants_html():
            return page("Check your email", "<p>If this address is known to us, a sign-in link is on its way. "
                        f"It works once, for {int(config.link_ttl.total_seconds() // 60)} minutes.</p>", 202)
        return json_response(LOGIN_ANSWER, 202)

    def link_page(mailbox: str, token: str) -> Response:
        # A GET never signs in: mail scanners open links; the page's button (a POST) does.
        tenant = tenant_of(mailbox)
        with context.tenant_context(tenant), db.transaction() as session:
            try:
                link = svc.check_link(session, token)
            except ProblemError as exc:
                if wants_html():
                    return page("This link no longer works", f"<p>{html.escape(exc.detail or '')}</p>"
                                f'<p><a href="/portal/{html.escape(mailbox)}/login">Ask for a new link</a></p>',
                                exc.status)
                raise
            expires = iso(link.expires_at)
        if wants_html():
            return page("Sign in to the support portal", (
                f'<form method="post" action="/portal/{html.escape(mailbox)}/session">'
                f'<input type="hidden" name="token" value="{html.escape(token)}">'
                '<button type="submit">Sign in</button></form>'))
        return json_response({"valid": True, "expires_at": expires}, headers={"Cache-Control": "no-store"})

    def exchange(mailbox: str) -> Response:
        tenant = tenant_of(mailbox)
        data = load(SessionExchangeSchema(), form_or_json())
        with context.tenant_context(tenant), db.transaction() as session:
            row, secret = svc.sign_in(session, config, data["token"])
            body = {"email": row.email, "expires_at": iso(row.expires_at), "token": secret}
        resp = (redirect(f"/portal/{mailbox}/tickets", 303) if wants_html()
                else json_response(body, 201, {"Cache-Control": "no-store"}))
        resp.set_cookie(svc.COOKIE, secret, max_age=int(config.session_ttl.total_seconds()),
                        path=cookie_path(mailbox), secure=config.secure_cookies, httponly=True, samesite="Strict")
        return resp

    def whoami(mailbox: str) -> Response:
        with portal(mailbox) as (_session, row):
            assert row is not None
            return json_response({"email": row.email, "expires_at": iso(row.expires_at)})

    def logout(mailbox: str) -> Response:
        with portal(mailbox, signed_in=False) as (session, row):
            if row is not None:
                svc.sign_out(session, row)
        resp = redirect(f"/portal/{mailbox}/login", 303) if wants_html() else Response(status=204)
        resp.delete_cookie(svc.COOKIE, path=cookie_path(mailbox), secure=config.secure_cookies, httponly=True,
                           samesite="Strict")
        return resp

    # --- tickets ---------------------------------------------------------------------------------

    def attachment_out(mailbox: str, ticket: Ticket, entry: dict[str, Any]) -> dict[str, Any]:
        url = (f"/portal/{mailbox}/tickets/{ticket.number}/attachments/{entry['id']}"
               if entry.get("source") == "portal" and entry.get("id") else None)
        return {"id": str(entry.get("id") or ""), "filename": entry.get("filename") or "",
                "content_type": entry.get("content_type") or "", "size": int(entry.get("size") or 0), "url": url}

    def message_out(mailbox: str, ticket: Ticket, m: TicketMessage) -> dict[str, Any]:
        customer = m.author_type == "customer"
        return {"id": str(m.id), "kind": m.kind, "author_type": m.author_type, "author_name": m.author_name,
                # An agent's address is the team's business, not the customer's.
                "author_email": m.author_email if customer else None,
                "text": m.body_text, "html": m.body_html,
                "attachments": [attachment_out(mailbox, ticket, a) for a in m.attachments or ()],
                "created_at": iso(m.created_at)}

    def ticket_out(t: Ticket, mine: bool) -> dict[str, Any]:
        return {"number": t.number, "subject": t.subject, "status": t.status, "channel": t.channel,
                "requester_name": t.requester_name, "mine": mine, "created_at": iso(t.created_at),
                "updated_at": iso(t.updated_at), "resolved_at": iso(t.resolved_at)}

    def detail(session: Any, mailbox: str, row: PortalSession, t: Ticket) -> dict[str, Any]:
        contacts, _ = svc._identity(session, row.email)
        linked = None
        if t.linked_ticket_id is not None:
            linked = session.scalars(select(Ticket.number).where(Ticket.id == t.linked_ticket_id)).first()
        return {**ticket_out(t, svc.is_own(row, t, contacts)), "linked_ticket_number": linked,
                "messages": [message_out(mailbox, t, m) for m in svc.conversation(session, t)]}

    def number_of(raw: str) -> int:
        try:
            number = int(raw.lstrip("#"))
        except ValueError as exc:
            raise NotFound(f"No ticket {raw!r}.") from exc
        if not 0 < number < 2**31:  # the column is a 32-bit integer: anything beyond is simply absent
            raise NotFound(f"No ticket {raw!r}.")
        return number

    def list_tickets(mailbox: str) -> Response:
        limit = query_int("limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
        status = request.args.get("status") or None
        if status is not None and status not in STATUSES:
            raise validation_error({"status": [f"One of: {', '.join(STATUSES)}."]})
        try:
            with portal(mailbox) as (session, row):
                assert row is not None
                stmt = select(Ticket).where(svc.visible_condition(session, row))
                if status is not None:
                    stmt = stmt.where(Ticket.status == status)
                keys = parse_sort(None, {"created_at": Ticket.created_at}, "-created_at", Ticket.id)
                found, next_cursor = paginate(session, stmt, keys, limit, request.args.get("cursor"))
                contacts, _ = svc._identity(session, row.email)
                data = [ticket_out(t, svc.is_own(row, t, contacts)) for t in found]
                email = row.email
        except Unauthorized as exc:
            return signed_in_or_login(mailbox, exc)
        if wants_html():
            return page("Your requests", tickets_html(mailbox, email, data, next_cursor))
        return json_response({"data": data, "next_cursor": next_cursor}, headers={"Cache-Control": "no-store"})

    def read_ticket(mailbox: str, number: str) -> Response:
        try:
            with portal(mailbox) as (session, row):
                assert row is not None
                body = detail(session, mailbox, row, svc.visible_ticket(session, row, number_of(number)))
        except Unauthorized as exc:
            return signed_in_or_login(mailbox, exc)
        if wants_html():
            return page(f"#{body['number']} {body['subject']}", ticket_html(mailbox, body))
        return json_response(body, headers={"Cache-Control": "no-store"})

    def uploads_of(data: dict[str, Any]) -> list[svc.Upload]:
        files = data.pop("_files", [])
        uploads = svc.decode_uploads(data.get("attachments"))
        for f in files:
            content = f.read(config.max_attachment_bytes + 1)
            uploads.append(svc.Upload(f.filename or "", f.mimetype or "application/octet-stream", content))
        svc.check_uploads(uploads, config)
        return uploads

    def create_ticket(mailbox: str) -> Response:
        try:
            with portal(mailbox) as (session, row):
                assert row is not None
                # The body only once the caller is known: a stranger learns nothing from a 422.
                raw = form_or_json()
                uploads = uploads_of(raw)
                data = load(PortalTicketCreateSchema(), {k: v for k, v in raw.items() if k != "attachments"})
                ticket = svc.open_ticket(session, desk, row, subject=data["subject"].strip(), text=data["text"],
                                         uploads=uploads, name=data.get("name"))
                body = detail(session, mailbox, row, ticket)
        except Unauthorized as exc:
            return signed_in_or_login(mailbox, exc)
        location = f"/portal/{mailbox}/tickets/{body['number']}"
        if wants_html():
            return redirect(location, 303)
        return json_response(body, 201, {"Location": location})

    def add_reply(mailbox: str, number: str) -> Response:
        try:
            with portal(mailbox) as (session, row):
                assert row is not None
                ticket = svc.visible_ticket(session, row, number_of(number))
                raw = form_or_json()
                uploads = uploads_of(raw)
                data = load(PortalReplySchema(), {k: v for k, v in raw.items() if k != "attachments"})
                target, message = svc.reply(session, desk, row, ticket, text=data["text"], uploads=uploads)
                body = {**message_out(mailbox, target, message), "ticket": ticket_out(target, True)}
        except Unauthorized as exc:
            return signed_in_or_login(mailbox, exc)
        location = f"/portal/{mailbox}/tickets/{target.number}"
        if wants_html():
            return redirect(location, 303)
        return json_response(body, 201, {"Location": location})

    def download(mailbox: str, number: str, attachment_id: str) -> Response:
        with portal(mailbox) as (session, row):
            assert row is not None
            ticket = svc.visible_ticket(session, row, number_of(number))
            found = svc.attachment(session, ticket, parse_uuid(attachment_id, "attachment"))
            return file_response(found)

    def staff_download(attachment_id: str) -> Response:
        require_scope("tickets:read")
        with db.transaction() as session:
            found = session.scalars(select(PortalAttachment).where(
                PortalAttachment.id == parse_uuid(attachment_id, "attachment"))).first()
            if found is None:
                raise NotFound("No such attachment.")
            return file_response(found)

    rules = [
        ("/login", "portal_login_form", login_form, ["GET"]),
        ("/login", "portal_login", login, ["POST"]),
        ("/session/<token>", "portal_session_link", link_page, ["GET"]),
        ("/session", "portal_session_create", exchange, ["POST"]),
        ("/session", "portal_session_get", whoami, ["GET"]),
        ("/session", "portal_session_delete", logout, ["DELETE"]),
        ("/session/logout", "portal_session_logout", logout, ["POST"]),
        ("/tickets", "portal_tickets_list", list_tickets, ["GET"]),
        ("/tickets", "portal_tickets_create", create_ticket, ["POST"]),
        ("/tickets/<number>", "portal_ticket_get", read_ticket, ["GET"]),
        ("/tickets/<number>/messages", "portal_ticket_reply", add_reply, ["POST"]),
        ("/tickets/<number>/attachments/<attachment_id>", "portal_ticket_attachment", download, ["GET"]),
    ]
    for path, endpoint, view, methods in rules:
        bp.add_url_rule(PREFIX + path, endpoint, view, methods=methods)
    bp.add_url_rule("/v1/portal/attachments/<attachment_id>", "portal_attachment_staff", staff_download,
                    methods=["GET"])
    document(runtime)
