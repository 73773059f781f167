"""/v1/mail/senders (From identities, verified by a mailed link), the open /v1/mail/verify/sender,
and /v1/mail/dkim-keys (signing keys per sender domain; owners and admins)."""

from __future__ import annotations

import email.utils
import html

from flask import Blueprint, Response, request
from sqlalchemy import select

from crm_core.context import tenant_context
from crm_core.errors import NotFound
from crm_http.auth import require_admin_access, require_scope
from crm_http.idempotency import idempotent
from crm_http.parsing import load, parse_uuid
from crm_http.resource import json_response
from crm_runtime.service import ServiceRuntime
from mail.api.messages import ID_PARAM, PAGING, READ, TAG, WRITE, listing
from mail.config import MailSettings
from mail.models import DkimKey, Sender
from mail.schemas.senders import (
    DkimKeyCreateSchema,
    DkimKeySchema,
    SenderCreateSchema,
    SenderSchema,
    SenderUpdateSchema,
    dkim_body,
    sender_body,
)
from mail.service import dkim
from mail.service.senders import VERIFY_PATH, SenderService, get_sender, pending, split_token, verify

BASE = "/v1/mail/senders"
KEYS = "/v1/mail/dkim-keys"


def _verified_page(ok: bool, address: str | None) -> Response:
    """HTML for a person following the link, JSON for anything else."""
    status = 200 if ok else 404
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
        text = f"{html.escape(address or '')} is confirmed as a sender." if ok else \
            "This link is unknown, used or expired. Ask for a new one from the CRM's sender settings."
        page = f"<!doctype html><meta charset=utf-8><title>Sender address</title><p>{text}</p>"
        return Response(page, status=status, mimetype="text/html")
    if not ok:
        raise NotFound("This verification link is unknown, used or expired.")
    return json_response({"verified": True, "address": address})


def _confirm_page(token: str, address: str) -> Response:
    """What a GET of the link answers: the address, and a button that POSTs the token."""
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
        page = (f"<!doctype html><meta charset=utf-8><title>Sender address</title>"
                f"<p>Confirm {html.escape(address)} as a sender address of a CRM?</p>"
                f"<form method=post action=\"{VERIFY_PATH}\"><input type=hidden name=token value=\"{html.escape(token)}\">"
                f"<button type=submit>Confirm</button></form>")
        return Response(page, status=200, mimetype="text/html")
    return json_response({"verified": False, "address": address, "confirm": f"POST {VERIFY_PATH} with this token"})


def register(bp: Blueprint, runtime: ServiceRuntime) -> None:
    mail_settings = MailSettings.from_settings(runtime.settings)
    platform_domains = frozenset({mail_settings.inbound_domain, mail_settings.message_id_domain,
                                  email.utils.parseaddr(mail_settings.default_from)[1].rpartition("@")[2].lower()})
    service = SenderService(mail_settings, runtime.outbox)
    once = idempotent(lambda: runtime.db, lambda: runtime.idempotency)

    def create() -> Response:
        require_scope(WRITE)
        values = load(SenderCreateSchema())
        with runtime.db.transaction() as session:
            body = sender_body(service.create(session, values))
        return json_response(body, 201, {"Location": f"{BASE}/{body['id']}"})

    def list_senders() -> Response:
        require_scope(READ)
        return listing(runtime, select(Sender), Sender, sender_body, Sender.created_at)

    def read(record_id: str) -> Response:
        require_scope(READ)
        with runtime.db.transaction() as session:
            return json_response(sender_body(get_sender(session, parse_uuid(record_id, "sender"))))

    def update(record_id: str) -> Response:
        require_scope(WRITE)
        sid = parse_uuid(record_id, "sender")
        values = load(SenderUpdateSchema(), partial=True)
        with runtime.db.transaction() as session:
            return json_response(sender_body(service.update(session, sid, values)))

    def delete(record_id: str) -> Response:
        require_scope(WRITE)
        sid = parse_uuid(record_id, "sender")
        with runtime.db.transaction() as session:
            service.delete(session, sid)
        return Response(status=204)

    def resend(record_id: str) -> Response:
        require_scope(WRITE)
        sid = parse_uuid(record_id, "sender")
        with runtime.db.transaction() as session:
            return json_response(sender_body(service.resend(session, sid)), 202)

    def verify_sender() -> Response:
        # Open path (crm_runtime.catalog): the token names the tenant; nothing else is trusted.
        # GET only shows what the link would confirm: mail scanners and link previews open every
        # link they see, and a GET that verified would hand the address to whoever added it.
        # The person confirms with the page's button (a POST).
        token = request.args.get("token") or request.form.get("token") or ""
        parts = split_token(token)
        if parts is None:
            return _verified_page(False, None)
        tenant, secret = parts
        with tenant_context(tenant), runtime.db.transaction() as session:
            if request.method == "GET":
                found = pending(session, secret)
                return _confirm_page(token, found.address) if found else _verified_page(False, None)
            sender = verify(session, secret)
            address = sender.address if sender else None
        return _verified_page(sender is not None, address)

    def create_key() -> Response:
        require_scope(WRITE)
        require_admin_access()
        values = load(DkimKeyCreateSchema())
        with runtime.db.transaction() as session:
            key = dkim.create_key(session, values["domain"], values["selector"], platform_domains)
            body = dkim_body(key, dkim.dns_record(key))
        return json_response(body, 201, {"Location": f"{KEYS}/{body['id']}"})

    def list_keys() -> Response:
        require_scope(READ)
        require_admin_access()
        return listing(runtime, select(DkimKey), DkimKey, lambda k: dkim_body(k, dkim.dns_record(k)), DkimKey.created_at)

    def read_key(record_id: str) -> Response:
        require_scope(READ)
        require_admin_access()
        with runtime.db.transaction() as session:
            key = dkim.get_key(session, parse_uuid(record_id, "DKIM key"))
            return json_response(dkim_body(key, dkim.dns_record(key)))

    def delete_key(record_id: str) -> Response:
        require_scope(WRITE)
        require_admin_access()
        kid = parse_uuid(record_id, "DKIM key")
        with runtime.db.transaction() as session:
            session.delete(dkim.get_key(session, kid))
        return Response(status=204)

    item = f"{BASE}/<record_id>"
    bp.add_url_rule(BASE, "mail_senders_create", once(create), methods=["POST"])
    bp.add_url_rule(BASE, "mail_senders_list", list_senders, methods=["GET"])
    bp.add_url_rule(item, "mail_senders_get", read, methods=["GET"])
    bp.add_url_rule(item, "mail_senders_update", update, methods=["PATCH"])
    bp.add_url_rule(item, "mail_senders_delete", delete, methods=["DELETE"])
    bp.add_url_rule(f"{item}/resend", "mail_senders_resend", resend, methods=["POST"])
    bp.add_url_rule(VERIFY_PATH, "mail_verify_sender", verify_sender, methods=["GET", "POST"])
    bp.add_url_rule(KEYS, "mail_dkim_create", once(create_key), methods=["POST"])
    bp.add_url_rule(KEYS, "mail_dkim_list", list_keys, methods=["GET"])
    bp.add_url_rule(f"{KEYS}/<record_id>", "mail_dkim_get", read_key, methods=["GET"])
    bp.add_url_rule(f"{KEYS}/<record_id>", "mail_dkim_delete", delete_key, methods=["DELETE"])
    doc = runtime.doc
    doc.operation(BASE, "post", summary="Add a sender address (mails it a verification link)", tag=TAG, scope=WRITE,
                  request=SenderCreateSchema, response=SenderSchema, status=201,
                  extra_responses={409: "Already a sender", 422: "Invalid fields"})
    doc.operation(BASE, "get", summary="List sender addresses", tag=TAG, scope=READ, parameters=PAGING,
                  response=SenderSchema, list_of=True)
    doc.operation(f"{BASE}/{{record_id}}", "get", summary="Get a sender", tag=TAG, scope=READ, parameters=ID_PARAM,
                  response=SenderSchema, extra_responses={404: "Not found"})
    doc.operation(f"{BASE}/{{record_id}}", "patch", summary="Rename a sender or make it the default", tag=TAG,
                  scope=WRITE, parameters=ID_PARAM, request=SenderUpdateSchema, response=SenderSchema,
                  extra_responses={404: "Not found", 409: "Not verified yet", 422: "Invalid fields"})
    doc.operation(f"{BASE}/{{record_id}}", "delete", summary="Remove a sender", tag=TAG, scope=WRITE,
                  parameters=ID_PARAM, status=204, extra_responses={404: "Not found"})
    doc.operation(f"{BASE}/{{record_id}}/resend", "post", summary="Mail a new verification link", tag=TAG, scope=WRITE,
                  parameters=ID_PARAM, response=SenderSchema, status=202,
                  extra_responses={404: "Not found", 409: "Already verified"})
    token_param = [{"name": "token", "in": "query", "required": True, "schema": {"type": "string"}}]
    doc.operation(VERIFY_PATH, "get", summary="Open a sender verification link (no credential): shows the address "
                  "and a confirm button; verifies nothing", tag=TAG, parameters=token_param,
                  extra_responses={404: "Unknown, used or expired link"})
    doc.operation(VERIFY_PATH, "post", summary="Confirm a sender address with the link's token (no credential)",
                  tag=TAG, parameters=token_param, extra_responses={404: "Unknown, used or expired link"})
    doc.operation(KEYS, "post", summary="Generate a DKIM key for a sender domain (owners and admins)", tag=TAG,
                  scope=WRITE, request=DkimKeyCreateSchema, response=DkimKeySchema, status=201,
                  extra_responses={409: "The domain has a key", 422: "Invalid fields"})
    doc.operation(KEYS, "get", summary="List DKIM keys and their DNS records", tag=TAG, scope=READ, parameters=PAGING,
                  response=DkimKeySchema, list_of=True)
    doc.operation(f"{KEYS}/{{record_id}}", "get", summary="Get a DKIM key", tag=TAG, scope=READ, parameters=ID_PARAM,
                  response=DkimKeySchema, extra_responses={404: "Not found"})
    doc.operation(f"{KEYS}/{{record_id}}", "delete", summary="Delete a DKIM key", tag=TAG, scope=WRITE,
                  parameters=ID_PARAM, status=204, extra_responses={404: "Not found"})
