"""GET /v1/mail/addresses: the tenant's inbound addresses; the raw-MIME webhook secret (made or
rotated by an admin, shown once) and the mailbox name (admins may change it)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from crm_core import context
from crm_core.errors import Conflict, validation_error
from crm_db.base import utc_iso
from crm_http.auth import admin_only, require_scope
from crm_http.parsing import load
from crm_http.resource import json_response
from crm_runtime.service import ServiceRuntime
from mail.config import MailSettings
from mail.models import Mailbox
from mail.schemas.inbound import AddressesSchema, MailboxPatchSchema, SecretSchema
from mail.service import mailboxes

TAG = "Mail addresses"
BASE = "/v1/mail/addresses"
READ = "mail:read"
WEBHOOK_PATH = "/inbound/mime/"


def addresses_body(box: Mailbox, settings: MailSettings) -> dict[str, Any]:
    domain, name = settings.inbound_domain, box.name
    return {
        "mailbox": name, "domain": domain,
        "addresses": {"default": f"{name}@{domain}", "support": f"{name}+support@{domain}", "log": f"{name}+log@{domain}"},
        "reply_token_format": f"{name}+t-<token>@{domain}",
        "deal_log_format": f"{name}+deal-<deal number>@{domain}",  # logged mail onto that deal's timeline
        "inbound_webhook": {"configured": box.inbound_secret_hash is not None,
                            "url_template": f"{settings.public_url}{WEBHOOK_PATH}<secret>",
                            "rotated_at": utc_iso(box.inbound_secret_rotated_at)},
    }


def register(bp: Blueprint, runtime: ServiceRuntime) -> None:
    settings = MailSettings.from_settings(runtime.settings)

    def read() -> Response:
        require_scope(READ)
        tenant = context.require_tenant()
        with runtime.db.transaction() as session:
            return json_response(addresses_body(mailboxes.mailbox_for(session, tenant), settings))

    @admin_only
    def rotate() -> Response:
        tenant = context.require_tenant()
        with runtime.db.transaction() as session:
            box, secret = mailboxes.rotate_secret(session, tenant)
            body = {"secret": secret, "url": f"{settings.public_url}{WEBHOOK_PATH}{secret}",
                    "rotated_at": utc_iso(box.inbound_secret_rotated_at)}
        resp = json_response(body, 201)
        resp.headers["Cache-Control"] = "no-store"
        return resp

    @admin_only
    def rename() -> Response:
        values = load(MailboxPatchSchema())
        tenant = context.require_tenant()
        with runtime.db.transaction() as session:
            try:
                box = mailboxes.rename(session, tenant, values["mailbox"])
            except mailboxes.MailboxTaken as exc:
                raise Conflict(str(exc), errors={"mailbox": ["Taken."]}) from exc
            except mailboxes.MailboxNameError as exc:
                raise validation_error({"mailbox": [str(exc)]}) from exc
            return json_response(addresses_body(box, settings))

    bp.add_url_rule(BASE, "mail_addresses_get", read, methods=["GET"])
    bp.add_url_rule(BASE, "mail_addresses_patch", rename, methods=["PATCH"])
    bp.add_url_rule(f"{BASE}/inbound-secret", "mail_addresses_secret", rotate, methods=["POST"])
    doc = runtime.doc
    doc.operation(BASE, "get", summary="The tenant's inbound addresses", tag=TAG, scope=READ, response=AddressesSchema)
    doc.operation(BASE, "patch", summary="Rename the tenant's mailbox (admins)", tag=TAG, request=MailboxPatchSchema,
                  response=AddressesSchema, extra_responses={403: "Not an admin", 409: "Name taken", 422: "Invalid name"})
    doc.operation(f"{BASE}/inbound-secret", "post", summary="Make or rotate the raw-MIME webhook secret (admins); "
                  "the answer is the only time it is shown", tag=TAG, response=SecretSchema, status=201,
                  extra_responses={403: "Not an admin"})
