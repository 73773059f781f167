"""Sender identities: an address and display name a tenant sends from, usable once the link mailed
to that address was followed. The link's token is `<tenant hex>.<secret>`: the tenant part lets
the open verification route find the tenant; only the sha256 of the secret is stored."""

from __future__ import annotations

import datetime as dt
import html
import secrets
import uuid
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crm_core import context
from crm_core.errors import Conflict, NotFound, TooManyRequests, validation_error
from crm_core.ids import secret_hash
from crm_db.base import as_utc, utcnow
from crm_events.outbox import Outbox
from crm_mail.requests import build_request, is_address
from mail.config import MailSettings
from mail.models import MailMessage, Sender
from mail.service.requests import Ingest

VERIFY_FOR = dt.timedelta(days=7)
VERIFY_PATH = "/v1/mail/verify/sender"
# The link goes from the platform's sender to any address a tenant names: bounded, so no tenant
# can use it to mail-bomb someone (or burn the platform's sending reputation).
MAX_AWAITING = 10  # unverified senders of a tenant at once
MAX_LINKS_PER_DAY = 30  # verification links a tenant has mailed in 24 hours (new senders and resends)
RESEND_AFTER = dt.timedelta(minutes=1)  # between two links for one sender


def _links_left(session: Session, now: dt.datetime) -> None:
    """Counted from the links' own messages, which deleting a sender does not take away."""
    sent = session.scalar(select(func.count()).select_from(MailMessage).where(
        MailMessage.refers_to_type == "sender", MailMessage.created_at > now - dt.timedelta(days=1)))
    if (sent or 0) >= MAX_LINKS_PER_DAY:
        raise TooManyRequests(f"At most {MAX_LINKS_PER_DAY} sender confirmation links are mailed in 24 hours.",
                              errors={"address": ["Too many confirmation links today."]}, headers={"Retry-After": "3600"})


def get_sender(session: Session, sender_id: uuid.UUID) -> Sender:
    found = session.scalars(select(Sender).where(Sender.id == sender_id)).first()
    if found is None:
        raise NotFound("No such sender.")
    return found


class SenderService:
    def __init__(self, settings: MailSettings, outbox: Outbox) -> None:
        self.settings = settings
        self.ingest = Ingest(settings, outbox)

    def create(self, session: Session, values: dict[str, Any]) -> Sender:
        address = str(values["address"]).strip().lower()
        if not is_address(address):
            raise validation_error({"address": ["Not an email address."]})
        if session.scalars(select(Sender.id).where(Sender.address == address)).first() is not None:
            raise Conflict(f"{address} is already a sender.", errors={"address": ["Already a sender."]})
        now = utcnow()
        awaiting = session.scalar(select(func.count()).select_from(Sender).where(Sender.verified_at.is_(None)))
        if (awaiting or 0) >= MAX_AWAITING:
            raise TooManyRequests(f"{awaiting} senders are still waiting for confirmation; confirm or delete some first.",
                                  errors={"address": [f"At most {MAX_AWAITING} unconfirmed senders."]})
        _links_left(session, now)
        sender = Sender(address=address, name=values.get("name") or None, is_default=False)
        session.add(sender)
        session.flush()
        self._send_link(session, sender)
        return sender

    def resend(self, session: Session, sender_id: uuid.UUID) -> Sender:
        sender = get_sender(session, sender_id)
        if sender.verified_at is not None:
            raise Conflict("The sender is already verified.", errors={"verified_at": ["Already verified."]})
        expires = sender.verification_expires_at
        if expires is not None and as_utc(expires) - VERIFY_FOR + RESEND_AFTER > utcnow():
            raise TooManyRequests("A link was mailed less than a minute ago; check the inbox first.",
                                  headers={"Retry-After": str(int(RESEND_AFTER.total_seconds()))})
        _links_left(session, utcnow())
        self._send_link(session, sender)
        return sender

    def _send_link(self, session: Session, sender: Sender, now: dt.datetime | None = None) -> None:
        """A new link (the old one stops working), mailed from the platform's sender straight into
        the queue: the same path as a request from any service, without the round trip via Kafka."""
        secret = secrets.token_urlsafe(24)
        sender.verification_hash = secret_hash(secret)
        sender.verification_expires_at = (now or utcnow()) + VERIFY_FOR
        link = f"{self.settings.public_url}{VERIFY_PATH}?token={context.require_tenant().hex}.{secret}"
        text = (f"Someone asked to send email as {sender.address} from their CRM.\n\n"
                f"If that was you, confirm the address by opening this link (valid for 7 days):\n\n{link}\n\n"
                "If not, ignore this message; nothing is sent from the address until it is confirmed.\n")
        body = (f"<p>{html.escape(text.split(chr(10))[0])}</p>"
                f"<p><a href=\"{html.escape(link)}\">Confirm {html.escape(sender.address)}</a></p>")
        data = build_request(to=[{"address": sender.address, "name": sender.name or ""}], subject="Confirm your sender address",
                             purpose="transactional", text=text, html=body,
                             refers_to={"type": "sender", "id": str(sender.id)})
        self.ingest.queue(session, [(data, "mail")])

    def update(self, session: Session, sender_id: uuid.UUID, values: dict[str, Any]) -> Sender:
        sender = get_sender(session, sender_id)
        if "name" in values:
            sender.name = values["name"] or None
        if values.get("is_default"):
            if sender.verified_at is None:
                raise Conflict("Only a verified sender can be the default.", errors={"is_default": ["Not verified yet."]})
            session.execute(update(Sender).where(Sender.id != sender.id, Sender.is_default.is_(True))
                            .values(is_default=False, version=Sender.version + 1))
            sender.is_default = True
        elif "is_default" in values:
            sender.is_default = False
        session.flush()
        return sender

    def delete(self, session: Session, sender_id: uuid.UUID) -> None:
        session.delete(get_sender(session, sender_id))


def split_token(token: str) -> tuple[uuid.UUID, str] | None:
    tenant, _, secret = (token or "").partition(".")
    try:
        return uuid.UUID(hex=tenant), secret
    except ValueError:
        return None


def pending(session: Session, secret: str, now: dt.datetime | None = None) -> Sender | None:
    """In the current tenant (from the token): the unverified sender the secret belongs to, or
    None (unknown, used or expired secrets look the same). Changes nothing."""
    if not secret:
        return None
    sender = session.scalars(select(Sender).where(Sender.verification_hash == secret_hash(secret))).first()
    if sender is None or sender.verification_expires_at is None:
        return None
    if as_utc(sender.verification_expires_at) < (now or utcnow()):
        return None
    return sender


def verify(session: Session, secret: str, now: dt.datetime | None = None) -> Sender | None:
    """The pending sender of the secret, now verified, or None."""
    now = now or utcnow()
    sender = pending(session, secret, now)
    if sender is None:
        return None
    sender.verified_at, sender.verification_hash, sender.verification_expires_at = now, None, None
    session.flush()
    return sender
