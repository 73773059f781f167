"""Request bodies of /v1/mail/senders, /v1/mail/dkim-keys and /v1/mail/suppressions, and the
shapes they answer."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from crm_db.base import utc_iso
from mail.models import SUPPRESSION_REASONS, DkimKey, Sender, Suppression

# A display name goes into the From header of every message sent as the sender: one line.
ONE_LINE = validate.Regexp(r"^[^\x00-\x1f\x7f]*$", error="Must be one line without control characters.")


class SenderCreateSchema(Schema):
    address = fields.Email(required=True, validate=[validate.Length(max=320),
                                                    validate.Regexp(r"^[\x21-\x7e]*$", error="Must be an ASCII address.")])
    name = fields.String(load_default=None, allow_none=True, validate=[validate.Length(max=200), ONE_LINE])


class SenderUpdateSchema(Schema):
    name = fields.String(allow_none=True, validate=[validate.Length(max=200), ONE_LINE])
    is_default = fields.Boolean()


class DkimKeyCreateSchema(Schema):
    domain = fields.String(required=True, validate=validate.Length(min=1, max=253))
    selector = fields.String(load_default="crm", validate=validate.Length(min=1, max=63))


class SuppressionCreateSchema(Schema):
    address = fields.Email(required=True, validate=validate.Length(max=320))
    reason = fields.String(load_default="manual", validate=validate.OneOf(["manual", "unsubscribe"]))
    detail = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))


# --- what they answer (documentation of the *_body functions below, for the OpenAPI document) ---

class SenderSchema(Schema):
    id = fields.UUID()
    address = fields.String()
    name = fields.String(allow_none=True)
    is_default = fields.Boolean()
    verified = fields.Boolean(metadata={"description": "Whether the address confirmed the mailed link."})
    verified_at = fields.String(allow_none=True)
    verification_expires_at = fields.String(allow_none=True, metadata={"description": "When the pending link expires."})
    created_at = fields.String()
    updated_at = fields.String()
    version = fields.Integer()


class DnsRecordSchema(Schema):
    type = fields.String(metadata={"description": "TXT"})
    name = fields.String(metadata={"description": "<selector>._domainkey.<domain>"})
    value = fields.String()


class DkimKeySchema(Schema):
    id = fields.UUID()
    domain = fields.String()
    selector = fields.String()
    algorithm = fields.String()
    dns_record = fields.Nested(DnsRecordSchema, metadata={"description": "The record to publish in the domain's DNS."})
    created_at = fields.String()


class SuppressionSchema(Schema):
    id = fields.UUID()
    address = fields.String()
    reason = fields.String(metadata={"enum": list(SUPPRESSION_REASONS)})
    detail = fields.String(allow_none=True)
    source_message_id = fields.UUID(allow_none=True, metadata={"description": "The message that bounced, if any."})
    created_at = fields.String()


def sender_body(s: Sender) -> dict[str, Any]:
    return {"id": str(s.id), "address": s.address, "name": s.name, "is_default": s.is_default,
            "verified": s.verified_at is not None, "verified_at": utc_iso(s.verified_at),
            "verification_expires_at": utc_iso(s.verification_expires_at),
            "created_at": utc_iso(s.created_at), "updated_at": utc_iso(s.updated_at), "version": s.version}


def dkim_body(k: DkimKey, record: dict[str, str]) -> dict[str, Any]:
    return {"id": str(k.id), "domain": k.domain, "selector": k.selector, "algorithm": k.algorithm,
            "dns_record": record, "created_at": utc_iso(k.created_at)}


def suppression_body(s: Suppression) -> dict[str, Any]:
    return {"id": str(s.id), "address": s.address, "reason": s.reason, "detail": s.detail,
            "source_message_id": str(s.source_message_id) if s.source_message_id else None,
            "created_at": utc_iso(s.created_at)}
