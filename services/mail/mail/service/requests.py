"""Ingest: send requests become rendered, signed, queued messages (one tenant's batch at a time).

Used by the mail.send consumer (crm.mail.send_requested from every service's outbox) and by mail
itself (sender verification links), so there is one path from request to queue. A message id seen
before is left as it is: a redelivered or repeated request changes nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core import context
from crm_db.base import utcnow
from crm_db.bulk import bulk_insert
from crm_events.outbox import Outbox
from crm_mail.requests import MailRequestError, build_request, new_message_id
from mail.config import MailSettings
from mail.models import LANE_BULK, LANE_PRIORITY, MailMessage, Sender, Suppression, mail_queue
from mail.schemas.messages import message_body
from mail.service import dkim
from mail.service.mailboxes import mailbox_for
from mail.service.render import Identity, parse_identity, render
from mail.service.support import remember_name, support_identity
from mail.service.suppressions import BLOCKS_ALL, normalise

SUPPRESSED = "crm.mail.suppressed"


class InvalidRequest(MailRequestError):
    """A request that will never be valid: dead-lettered at once (crm_events.consumer)."""

    dead_letter_now = True


def check(data: Mapping[str, Any]) -> dict[str, Any]:
    """The request's data as build_request makes it (the producer ran the same rules; a producer
    on an older version, or a hand-written event, may not have)."""
    if not isinstance(data, Mapping):
        raise InvalidRequest("the request's data is not an object")
    sender = data.get("from") if isinstance(data.get("from"), Mapping) else {}
    try:
        message_id = uuid.UUID(str(data.get("message_id")))
        return build_request(
            to=data.get("to") or (), subject=data.get("subject"), purpose=data.get("purpose"),  # type: ignore[arg-type]
            text=data.get("text"), html=data.get("html"), cc=data.get("cc"), bcc=data.get("bcc"),
            sender_id=sender.get("sender_id"), from_name=sender.get("name"), reply_token=data.get("reply_token"),
            reply_to=data.get("reply_to"), headers=data.get("headers"), in_reply_to=data.get("in_reply_to"),
            references=data.get("references"), attachments=data.get("attachments"),
            refers_to=data.get("refers_to"), message_id=message_id, mailbox_hint=data.get("mailbox_hint"),
            from_support=bool(sender.get("support")))
    except (MailRequestError, ValueError, TypeError, AttributeError, KeyError) as exc:
        raise InvalidRequest(f"invalid send request: {exc}") from exc


def recipients(message: Mapping[str, Any] | Any) -> list[str]:
    get = message.get if isinstance(message, Mapping) else lambda k: getattr(message, k)
    seen: dict[str, None] = {}
    for field in ("to", "cc", "bcc"):
        for entry in get(field) or ():
            seen.setdefault(normalise(entry["address"]), None)
    return list(seen)


def blocked(suppressions: Mapping[str, str], address: str, purpose: str) -> bool:
    reason = suppressions.get(address)
    return reason is not None and (purpose == "marketing" or reason in BLOCKS_ALL)


def suppressions_for(session: Session, addresses: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    unique = sorted(set(addresses))
    for start in range(0, len(unique), 1000):
        rows = session.execute(select(Suppression.address, Suppression.reason)
                               .where(Suppression.address.in_(unique[start:start + 1000])))
        found.update({r.address: r.reason for r in rows})
    return found


@dataclass
class Ingest:
    settings: MailSettings
    outbox: Outbox

    def queue(self, session: Session, requests: Sequence[tuple[Mapping[str, Any], str | None]],
              now: dt.datetime | None = None) -> list[uuid.UUID]:
        """Queue the current tenant's requests ((data, requesting service) pairs); the ids of the
        messages made (requests for an existing id make none)."""
        tenant = context.require_tenant()
        checked = [(check(data), source) for data, source in requests]
        wanted = {uuid.UUID(d["message_id"]) for d, _ in checked}
        existing = set(session.scalars(select(MailMessage.id).where(MailMessage.id.in_(list(wanted)))))
        fresh: dict[uuid.UUID, tuple[dict[str, Any], str | None]] = {}
        for data, source in checked:
            mid = uuid.UUID(data["message_id"])
            if mid not in existing:
                fresh.setdefault(mid, (data, source))
        if not fresh:
            return []
        now = now or utcnow()
        senders = list(session.scalars(select(Sender).where(Sender.verified_at.is_not(None))))
        by_id = {s.id: s for s in senders}
        default = next((s for s in senders if s.is_default), None)
        platform = parse_identity(self.settings.default_from)
        suppressed = suppressions_for(session, [a for d, _ in fresh.values() for a in recipients(d)])
        # A first message can overtake crm.tenant.created: name the mailbox from the request then.
        hint = next((d.get("mailbox_hint") for d, _ in fresh.values() if d.get("mailbox_hint")), None)
        mailbox = mailbox_for(session, tenant, name_hint=hint)
        remember_name(mailbox, hint)  # the hint is the tenant's name (signup's first mail)
        box = mailbox.name
        domain = self.settings.inbound_domain
        keys = dkim.keys_by_domain(session)
        rows, queue, quiet = [], [], []
        for mid, (data, source) in fresh.items():
            asked = data["from"].get("sender_id")
            sender = by_id.get(uuid.UUID(asked)) if asked else None
            sender = sender or default
            identity = Identity(sender.address, sender.name) if sender else platform
            if data["from"].get("name"):
                identity = Identity(identity.address, data["from"]["name"])
            if data["from"].get("support"):
                sender = None
                identity = support_identity(mailbox, domain, data["from"].get("name"))
            status = "queued"
            if all(blocked(suppressed, a, data["purpose"]) for a in recipients(data)):
                status = "suppressed"
            reply_to = f"{box}+t-{data['reply_token']}@{domain}" if data.get("reply_token") else None
            message_id = new_message_id(mid, self.settings.message_id_domain)
            raw = None
            if status == "queued":
                raw = render(data, sender=identity, message_id=message_id, reply_to=reply_to)
                key = keys.get(identity.address.rpartition("@")[2])
                if key is not None:
                    raw = dkim.sign(raw, key)
            refers = data.get("refers_to") or {}
            row = {"tenant_id": tenant, "id": mid, "created_at": now, "updated_at": now, "version": 1,
                   "purpose": data["purpose"], "status": status, "source": source,
                   "from_address": identity.address, "from_name": identity.name,
                   "sender_id": sender.id if sender else None, "to": data["to"], "cc": data["cc"], "bcc": data["bcc"],
                   "subject": data["subject"], "refers_to_type": refers.get("type"), "refers_to_id": refers.get("id"),
                   "message_id_header": message_id, "mime": raw, "size": len(raw or b""), "attempts": 0,
                   "next_attempt_at": now if raw else None, "last_error": None if raw else "Every recipient is suppressed.",
                   "last_smtp_code": None, "sent_at": None, "bounced_at": None}
            rows.append(row)
            if raw is not None:
                lane = LANE_BULK if data["purpose"] == "marketing" else LANE_PRIORITY
                queue.append({"tenant_id": tenant, "message_id": mid, "lane": lane, "due_at": now})
            else:
                quiet.append(row)
        conn = session.connection()
        bulk_insert(conn, MailMessage.__table__, rows)  # type: ignore[arg-type]
        bulk_insert(conn, mail_queue, queue)
        if quiet:
            self.outbox.emit_many(session, SUPPRESSED, [(r["id"], message_body(r)) for r in quiet])
        return list(fresh)
