"""The customer portal: sign-in links by email, portal sessions, and a customer's own tickets.

A portal session is a credential of its own: an opaque random token (only its hash is stored),
bound to one tenant (the mailbox in the path) and one requester email, expiring, revocable. It is
never a staff token: the gateway's bearer check does not know it, and the service accepts it only
on the /portal/{mailbox}/ routes of its tenant (api/portal.py).

What a session sees: tickets whose requester_email is its email (or whose contact is the contact
those tickets were matched to) and, when the tenant's ticket settings say `portal_company_tickets`,
those of the same company. Of a conversation, only public replies and the customers' messages:
never internal notes.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from crm_core.errors import Gone, NotFound, PayloadTooLarge, validation_error
from crm_core.ids import secret_hash
from crm_core.settings import Settings
from crm_db.base import as_utc, utcnow
from crm_db.database import Database
from crm_mail.requests import is_address, request_mail
from crm_runtime.cli import BackgroundLoop, ConsumerSpec
from tickets.models import Ticket
from tickets.models.conversations import TicketMessage
from tickets.models.portal import PortalAttachment, PortalLoginLink, PortalMailbox, PortalSession
from tickets.service.conversations import add_message

if TYPE_CHECKING:
    from tickets.service.desk import Desk

log = logging.getLogger(__name__)

SESSION_PREFIX = "cps_"  # a portal session token: told apart from staff tokens and API keys at a glance
COOKIE = "crm_portal"
MAX_TOKEN = 200
# What a customer sees of a conversation: never an internal note.
VISIBLE_KINDS = ("reply", "customer")
MAX_ATTACHMENTS = 5


@dataclass(frozen=True)
class PortalConfig:
    public_url: str
    link_ttl: dt.timedelta  # a sign-in link
    session_ttl: dt.timedelta
    login_limit: int  # sign-in links mailed per email and window
    login_window: dt.timedelta
    max_attachment_bytes: int  # all files of one message together, decoded

    @classmethod
    def from_settings(cls, settings: Settings) -> PortalConfig:
        def number(name: str, default: float) -> float:
            raw = settings.get(name)
            try:
                return float(raw) if raw not in (None, "") else default
            except ValueError as exc:
                raise RuntimeError(f"{name} must be a number, not {raw!r}") from exc

        public = (settings.get("CRM_PUBLIC_URL", "http://127.0.0.1:8080") or "http://127.0.0.1:8080").rstrip("/")
        # Through the gateway a body is at most 1 MiB, and base64 in JSON adds a third.
        return cls(public_url=public,
                   link_ttl=dt.timedelta(minutes=number("CRM_PORTAL_LINK_MINUTES", 15)),
                   session_ttl=dt.timedelta(hours=number("CRM_PORTAL_SESSION_HOURS", 24 * 7)),
                   login_limit=int(number("CRM_PORTAL_LOGIN_LIMIT", 5)),
                   login_window=dt.timedelta(minutes=number("CRM_PORTAL_LOGIN_WINDOW_MINUTES", 60)),
                   max_attachment_bytes=int(number("CRM_PORTAL_MAX_ATTACHMENT_BYTES", 640 * 1024)))

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")


def normalize_email(raw: Any) -> str | None:
    if not isinstance(raw, str):
        return None
    value = raw.strip().lower()
    return value if is_address(value) else None


def mailbox_of(session: Session, tenant_id: uuid.UUID) -> str | None:
    # A platform table: the statement names the tenant itself.
    return session.scalars(select(PortalMailbox.name).where(PortalMailbox.tenant_id == tenant_id)).first()


def portal_url(config: PortalConfig, mailbox: str, rest: str = "") -> str:
    return f"{config.public_url}/portal/{mailbox}/{rest}"


# --- sign-in -------------------------------------------------------------------------------------

def is_known_requester(session: Session, email: str) -> bool:
    """A requester of one of the tenant's tickets. (A contact projection, once the core area
    has one, would widen this; until then only those who already wrote in can sign in.)"""
    return session.scalars(select(Ticket.id).where(Ticket.requester_email == email).limit(1)).first() is not None


def request_login(session: Session, desk: Desk, config: PortalConfig, tenant_id: uuid.UUID, mailbox: str,
                  raw_email: Any, now: dt.datetime | None = None) -> None:
    """Mails a sign-in link when `raw_email` is a known requester and under the per-email limit.
    The caller answers the same whatever happened here: no account enumeration."""
    email = normalize_email(raw_email)
    if email is None:
        raise validation_error({"email": ["Not a valid email address."]})
    now = now or utcnow()
    if not is_known_requester(session, email):
        return
    # The rate limit's counter is the links themselves: those mailed in the window.
    recent = session.scalar(select(func.count()).select_from(PortalLoginLink).where(
        PortalLoginLink.email == email, PortalLoginLink.created_at >= now - config.login_window))
    if (recent or 0) >= config.login_limit:
        log.info("portal sign-in link not sent: limit reached", extra={"tenant_id": str(tenant_id)})
        return
    token = secrets.token_urlsafe(32)
    link = PortalLoginLink(token_hash=secret_hash(token), email=email, expires_at=now + config.link_ttl,
                           created_at=now, updated_at=now)
    session.add(link)
    session.flush()
    url = portal_url(config, mailbox, f"session/{token}")
    minutes = int(config.link_ttl.total_seconds() // 60)
    text = (f"Hello,\n\nfollow this link to sign in to the support portal and see your tickets:\n\n{url}\n\n"
            f"The link works once and expires in {minutes} minutes. If you did not ask for it, ignore this email.\n")
    request_mail(desk.outbox, session, from_support=True, purpose="transactional", to=[email],
                 subject="Your sign-in link to the support portal", text=text,
                 refers_to={"type": "portal_login", "id": str(link.id)})


def _link(session: Session, token: str) -> PortalLoginLink | None:
    if not token or len(token) > MAX_TOKEN:
        return None
    return session.scalars(select(PortalLoginLink).where(PortalLoginLink.token_hash == secret_hash(token))).first()


def check_link(session: Session, token: str, now: dt.datetime | None = None) -> PortalLoginLink:
    """The link behind `token`, still usable: 404 unknown (also another tenant's), 410 used or expired."""
    link = _link(session, token)
    if link is None:
        raise NotFound("No such sign-in link.")
    if link.used_at is not None:
        raise Gone("This sign-in link was already used; ask for a new one.", errors={"token": ["Already used."]})
    if as_utc(link.expires_at) <= (now or utcnow()):
        raise Gone("This sign-in link has expired; ask for a new one.", errors={"token": ["Expired."]})
    return link


def sign_in(session: Session, config: PortalConfig, token: str, now: dt.datetime | None = None
            ) -> tuple[PortalSession, str]:
    """Spends the link (once: the row is locked and its used_at set in this commit) and opens a
    session; the new session's secret, shown only now."""
    now = now or utcnow()
    link = _link(session, token)
    if link is not None:
        # Two tabs following one link at once: the second waits here and then sees used_at.
        session.refresh(link, with_for_update=True)
    link = check_link(session, token, now)
    link.used_at = now
    secret = SESSION_PREFIX + secrets.token_urlsafe(32)
    row = PortalSession(token_hash=secret_hash(secret), email=link.email, expires_at=now + config.session_ttl,
                        last_seen_at=now, created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    return row, secret


def authenticate(session: Session, token: str | None, now: dt.datetime | None = None) -> PortalSession | None:
    """The live session of `token` in the current tenant, or None."""
    if not token or not token.startswith(SESSION_PREFIX) or len(token) > MAX_TOKEN:
        return None
    row = session.scalars(select(PortalSession).where(PortalSession.token_hash == secret_hash(token))).first()
    now = now or utcnow()
    if row is None or row.revoked_at is not None or as_utc(row.expires_at) <= now:
        return None
    return row


def sign_out(session: Session, row: PortalSession, now: dt.datetime | None = None) -> None:
    row.revoked_at = now or utcnow()
    session.flush()


# --- what a session sees -------------------------------------------------------------------------

def company_tickets_allowed(session: Session) -> bool:
    """The tenant's `portal_company_tickets` ticket setting. Read defensively: the settings
    belong to the core area (ticket_settings(session)); without them, only one's own tickets."""
    try:
        from tickets.service import tickets as core
    except ImportError:  # pragma: no cover - the core module always exists
        return False
    reader = getattr(core, "ticket_settings", None)
    if reader is None:
        try:
            from tickets.service import settings as settings_module  # type: ignore[attr-defined]
        except ImportError:
            return False
        reader = getattr(settings_module, "ticket_settings", None)
    if reader is None:
        return False
    try:
        found = reader(session)
    except Exception:  # noqa: BLE001 - a settings problem must not open or break the portal
        log.exception("ticket_settings failed; portal shows only own tickets")
        return False
    value = found.get("portal_company_tickets") if isinstance(found, dict) else getattr(found, "portal_company_tickets", False)
    return value is True


def _identity(session: Session, email: str) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """The contacts and companies the email's own tickets were matched to."""
    rows = session.execute(select(Ticket.contact_id, Ticket.company_id).where(Ticket.requester_email == email)
                           .order_by(Ticket.created_at.desc()).limit(200)).all()
    return ({r.contact_id for r in rows if r.contact_id}, {r.company_id for r in rows if r.company_id})


def visible_condition(session: Session, row: PortalSession) -> Any:
    contacts, companies = _identity(session, row.email)
    terms = [Ticket.requester_email == row.email]
    if contacts:
        terms.append(Ticket.contact_id.in_(sorted(contacts)))
    if companies and company_tickets_allowed(session):
        terms.append(Ticket.company_id.in_(sorted(companies)))
    return or_(*terms)


def is_own(row: PortalSession, ticket: Ticket, contacts: set[uuid.UUID] | None = None) -> bool:
    return ticket.requester_email == row.email or (ticket.contact_id is not None and ticket.contact_id in (contacts or ()))


def visible_ticket(session: Session, row: PortalSession, number: int) -> Ticket:
    """The session's ticket #number; 404 for one it may not see, exactly as for none."""
    ticket = session.scalars(select(Ticket).where(Ticket.number == number, visible_condition(session, row))).first()
    if ticket is None:
        raise NotFound(f"No ticket #{number}.")
    return ticket


def conversation(session: Session, ticket: Ticket) -> list[TicketMessage]:
    return list(session.scalars(select(TicketMessage).where(
        TicketMessage.ticket_id == ticket.id, TicketMessage.kind.in_(VISIBLE_KINDS))
        .order_by(TicketMessage.created_at, TicketMessage.id)))


# --- attachments ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    content: bytes


def decode_uploads(raw: Any, field: str = "attachments") -> list[Upload]:
    """JSON `[{filename, content_type, content_base64}]` -> uploads (422 naming the item)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise validation_error({field: ["Expected a list of {filename, content_type, content_base64}."]})
    out = []
    for i, item in enumerate(raw):
        name = f"{field}.{i}"
        if not isinstance(item, dict):
            raise validation_error({name: ["Expected an object."]})
        try:
            content = base64.b64decode(str(item.get("content_base64") or ""), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise validation_error({f"{name}.content_base64": ["Not valid base64."]}) from exc
        out.append(Upload(str(item.get("filename") or ""), str(item.get("content_type") or "application/octet-stream"),
                          content))
    return out


def check_uploads(uploads: Sequence[Upload], config: PortalConfig, field: str = "attachments") -> None:
    if len(uploads) > MAX_ATTACHMENTS:
        raise validation_error({field: [f"At most {MAX_ATTACHMENTS} files per message."]})
    for i, upload in enumerate(uploads):
        name = upload.filename.strip()
        if not name or len(name) > 255 or any(c in name for c in "/\\\r\n\x00"):
            raise validation_error({f"{field}.{i}.filename": ["A file name of 1-255 characters, no path."]})
        if "/" not in upload.content_type or len(upload.content_type) > 255 or any(
                c in upload.content_type for c in "\r\n"):
            raise validation_error({f"{field}.{i}.content_type": ["A media type such as application/pdf."]})
        if not upload.content:
            raise validation_error({f"{field}.{i}": ["The file is empty."]})
    total = sum(len(u.content) for u in uploads)
    if total > config.max_attachment_bytes:
        raise PayloadTooLarge(f"Attachments may total {config.max_attachment_bytes} bytes, not {total}.",
                              errors={field: [f"At most {config.max_attachment_bytes} bytes in all."]})


def store_uploads(session: Session, ticket: Ticket, uploads: Sequence[Upload], email: str) -> list[dict[str, Any]]:
    """The files stored; their entries for the message's `attachments`."""
    entries = []
    for upload in uploads:
        row = PortalAttachment(ticket_id=ticket.id, filename=upload.filename.strip(), content_type=upload.content_type,
                               size=len(upload.content), content=upload.content, uploaded_by=email)
        session.add(row)
        session.flush()
        entries.append({"id": str(row.id), "filename": row.filename, "content_type": row.content_type,
                        "size": row.size, "source": "portal"})
    return entries


def attachment(session: Session, ticket: Ticket, attachment_id: uuid.UUID) -> PortalAttachment:
    row = session.scalars(select(PortalAttachment).where(PortalAttachment.id == attachment_id,
                                                         PortalAttachment.ticket_id == ticket.id)).first()
    if row is None:
        raise NotFound("No such attachment.")
    return row


# --- a customer's tickets ------------------------------------------------------------------------

def open_ticket(session: Session, desk: Desk, row: PortalSession, *, subject: str, text: str,
                uploads: Sequence[Upload] = (), name: str | None = None) -> Ticket:
    """A ticket from the portal, created like any other (numbers, routing, SLA run in the hooks),
    with the customer's first message."""
    ticket = desk.tickets.create(session, {"subject": subject, "description": text, "channel": "portal",
                                           "requester_email": row.email, "requester_name": name})
    entries = store_uploads(session, ticket, uploads, row.email)
    add_message(session, desk, ticket, kind="customer", author_type="customer", channel="portal", text=text,
                author_email=row.email, author_name=name, attachments=entries)
    return ticket


def reply(session: Session, desk: Desk, row: PortalSession, ticket: Ticket, *, text: str,
          uploads: Sequence[Upload] = ()) -> tuple[Ticket, TicketMessage]:
    """The customer's message on `ticket`. A resolved (or pending: waiting on the customer)
    ticket reopens; a closed one stays closed and the message opens a new ticket linked to it,
    as a reply by email does. Returns the ticket the message landed on."""
    if ticket.status == "closed":
        target = desk.tickets.create(session, {"subject": ticket.subject, "description": text, "channel": "portal",
                                               "requester_email": row.email, "requester_name": ticket.requester_name,
                                               "contact_id": ticket.contact_id, "linked_ticket_id": ticket.id})
    else:
        target = ticket
    entries = store_uploads(session, target, uploads, row.email)
    message = add_message(session, desk, target, kind="customer", author_type="customer", channel="portal", text=text,
                          author_email=row.email, attachments=entries)
    if target.status in ("resolved", "pending"):
        target = desk.tickets.update(session, target.id, {"status": "open"})
    return target, message


def install(desk: Desk) -> None:
    """Registers the area's ticket hooks (desk.hooks): none; the portal only calls the desk."""


def consumers(settings: Settings, db: Database) -> list[ConsumerSpec]:
    """The area's event consumers (run by the worker)."""
    return []


def background(settings: Settings, db: Database) -> list[BackgroundLoop]:
    """The area's background loops (run by the worker)."""
    return []
