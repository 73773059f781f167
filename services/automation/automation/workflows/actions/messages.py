"""notify and send_email: events in automation's own outbox (ctx.emit), written with the step's
result in one transaction, so a step that runs twice still asks once.

notify asks pipeline (owner of /v1/notifications) with crm.notification.requested, the event the
desk uses too (pipeline.notification_requests). send_email asks mail with crm.mail.send_requested
(crm_mail.requests); its message id is derived from the step's idempotency key, so even two
requests of one step run are one message.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from automation.workflows.actions.base import (
    StepSchema,
    Template,
    current_record,
    fetch,
    load,
    owner_of,
    user_or_owner,
)
from automation.workflows.steps import StepContext, StepError, Writes
from automation.workflows.templates import render, render_html
from crm_mail.requests import PURPOSES, SEND_REQUESTED, MailRequestError, build_request, is_address

NOTIFICATION_REQUESTED = "crm.notification.requested"
NOTIFICATION_KIND = "workflow"
MAX_TITLE = 200
# Namespaces the message id of a step run's email: uuid5(this, "<tenant>:<idempotency key>").
MAIL_NAMESPACE = uuid.UUID("6c1f3f0e-2b7a-5f0e-9d43-1f7e0c2a9b51")
MAX_RECIPIENTS = 50


class NotifySchema(StepSchema):
    users = fields.List(fields.String(validate=user_or_owner), required=True, validate=validate.Length(min=1, max=100))
    message = Template(required=True, validate=validate.Length(min=1, max=10_000))


class Notify:
    type = "notify"
    schema = NotifySchema
    record_types = None  # any run; "owner" needs a record

    def writes(self, params: Mapping[str, Any], record_type: str | None) -> Writes:
        return Writes(frozenset({NOTIFICATION_REQUESTED}))

    def request(self, ctx: StepContext, params: Mapping[str, Any]) -> dict[str, Any]:
        p = load(self.schema, params)
        users: list[str] = []
        for user in p["users"]:
            if user == "owner":
                owner = owner_of(ctx.record_type, current_record(ctx)) if ctx.record_type else None
                if owner:  # a record without an owner has nobody to tell; the others still are
                    users.append(owner)
            else:
                users.append(str(uuid.UUID(user)))
        text = render(p["message"], ctx.template_values()).strip()
        if not text:
            raise StepError("The notification message renders empty", retryable=False)
        first = " ".join(text.splitlines()[0].split())
        title = first if len(first) <= MAX_TITLE else first[:MAX_TITLE - 1] + "…"
        subject_type, subject_id = (ctx.record_type, str(ctx.record_id)) if ctx.record_type and ctx.record_id \
            else ("workflow", str(ctx.workflow_id))
        return {"user_ids": sorted(set(users)), "kind": NOTIFICATION_KIND, "title": title,
                "body": text if text != title else None, "subject_type": subject_type, "subject_id": subject_id,
                "actor_id": None, "data": {"workflow_id": str(ctx.workflow_id), "run_id": str(ctx.run_id),
                                           "step_id": ctx.step_id}}

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> dict[str, Any]:
        data = self.request(ctx, params)
        if data["user_ids"]:
            ctx.emit(NOTIFICATION_REQUESTED, data["subject_id"], data)
        return {"user_ids": data["user_ids"], "title": data["title"]}

    def preview(self, ctx: StepContext, params: Mapping[str, Any]) -> dict[str, Any]:
        data = self.request(ctx, params)
        return {"user_ids": data["user_ids"], "title": data["title"], "event": {"type": NOTIFICATION_REQUESTED, "data": data}}


# `from` is a Python keyword: the schema is made from a dict to keep the step's field name.
_SendEmailBase: type[Schema] = StepSchema.from_dict({
    "to": Template(required=True, validate=validate.Length(min=1, max=5000)),
    "subject": Template(required=True, validate=validate.Length(min=1, max=2000)),
    "body": Template(),
    "html": Template(),
    "from": fields.UUID(),
    "purpose": fields.String(load_default="marketing", validate=validate.OneOf(PURPOSES)),
}, name="SendEmailBase")


class SendEmailSchema(_SendEmailBase):  # type: ignore[misc, valid-type]
    @validates_schema
    def has_body(self, data: dict[str, Any], **_: Any) -> None:
        if not data.get("body") and not data.get("html"):
            raise ValidationError({"body": ["Give a body (text), an html body, or both."]})


def message_id(ctx: StepContext) -> uuid.UUID:
    return uuid.uuid5(MAIL_NAMESPACE, f"{ctx.tenant_id}:{ctx.idempotency_key}")


def record_address(ctx: StepContext) -> tuple[str, str | None]:
    """("address", name) of the run's record: a contact's email; a ticket's requester; a deal's
    primary contact's (read through contacts, so it is this tenant's contact or none)."""
    if ctx.record_type is None or ctx.record_id is None:
        raise StepError('to: "record" needs a record; this run has none', retryable=False)
    record = current_record(ctx)
    if ctx.record_type == "ticket" and record.get("requester_email"):
        return str(record["requester_email"]), record.get("requester_name")
    if ctx.record_type in ("deal", "ticket"):
        if not record.get("contact_id"):
            raise StepError(f"The {ctx.record_type} has no contact to email", retryable=False)
        record = fetch(ctx, "contact", str(record["contact_id"]))[0]
    elif ctx.record_type != "contact":
        raise StepError(f'to: "record" means a contact\'s address; a {ctx.record_type} has none', retryable=False)
    if not record.get("email"):
        raise StepError("The contact has no email address", retryable=False)
    name = " ".join(str(record[k]) for k in ("first_name", "last_name") if record.get(k)) or None
    return str(record["email"]), name


class SendEmail:
    type = "send_email"
    schema = SendEmailSchema
    record_types = None  # "record" needs a contact, deal or ticket; an address works on any run

    def writes(self, params: Mapping[str, Any], record_type: str | None) -> Writes:
        return Writes(frozenset({SEND_REQUESTED}))

    def request(self, ctx: StepContext, params: Mapping[str, Any]) -> dict[str, Any]:
        p = load(self.schema, params)
        values = ctx.template_values()
        to: list[dict[str, str]] = []
        for item in render(p["to"], values).replace(";", ",").split(","):
            item = item.strip()
            if item == "record":
                address, name = record_address(ctx)
                to.append({"address": address, **({"name": name} if name else {})})
            elif item:
                to.append({"address": item})
        if not to:
            raise StepError("The email has no recipient", retryable=False)
        if len(to) > MAX_RECIPIENTS:
            raise StepError(f"An email of a workflow goes to at most {MAX_RECIPIENTS} addresses", retryable=False)
        bad = next((t["address"] for t in to if not is_address(t["address"])), None)
        if bad is not None:
            raise StepError(f"Not an email address: {bad[:100]!r}", retryable=False)
        subject = " ".join(render(p["subject"], values).split())[:998]
        if not subject:
            raise StepError("The email subject renders empty", retryable=False)
        refers = {"type": ctx.record_type, "id": str(ctx.record_id)} if ctx.record_type and ctx.record_id else None
        try:
            return build_request(
                to=to, subject=subject, purpose=p["purpose"], message_id=message_id(ctx),
                text=render(p["body"], values) if p.get("body") else None,
                html=render_html(p["html"], values) if p.get("html") else None,
                sender_id=p.get("from"), refers_to=refers)
        except MailRequestError as exc:
            raise StepError(f"The email cannot be sent: {exc}", retryable=False) from exc

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> dict[str, Any]:
        data = self.request(ctx, params)
        ctx.emit(SEND_REQUESTED, data["message_id"], data)
        return {"message_id": data["message_id"], "to": [t["address"] for t in data["to"]], "subject": data["subject"]}

    def preview(self, ctx: StepContext, params: Mapping[str, Any]) -> dict[str, Any]:
        data = self.request(ctx, params)
        return {"message_id": data["message_id"], "to": [t["address"] for t in data["to"]], "subject": data["subject"],
                "text": data.get("text"), "html": data.get("html"), "event": {"type": SEND_REQUESTED, "data": data}}
