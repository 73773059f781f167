"""Email links: signup verification and invitations, sent through the mail service's outbox path.

A token travels only in the email (crm.mail.send_requested, purpose transactional); the users table
keeps its sha256 and an expiry. One pending verification token per user: a new one replaces it.
Opening the link proves the address, for that one user row: a token never verifies another
account, and an unverified account never blocks the address's owner (emails are unique per
tenant only, and signup always makes a new tenant).
"""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid
from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.errors import BadRequest, Conflict, Forbidden, Gone
from crm_core.ids import secret_hash
from crm_db.base import utcnow
from crm_events.outbox import Outbox
from crm_mail.requests import request_mail
from gateway.models import Tenant, User
from gateway.tokens import new_secret

DEFAULT_VERIFICATION_TTL = dt.timedelta(hours=48)  # CRM_EMAIL_VERIFICATION_HOURS
DEFAULT_UNVERIFIED_GRACE = dt.timedelta(days=7)  # CRM_UNVERIFIED_ACCOUNT_DAYS
VERIFY_PATH = "/v1/auth/verify-email"
ACCEPT_PATH = "/v1/auth/invitations/accept"
INVITATION_PAGE = "/accept-invitation"  # the web console's screen: choose a password, then POST ACCEPT_PATH
# The web console's screen: shows the address, and its button POSTs VERIFY_PATH. Links sent before
# it existed point at VERIFY_PATH itself, whose GET page keeps working.
VERIFICATION_PAGE = "/verify-email"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def _one_line(value: str) -> str:
    """A company or person name as a subject can carry it (one line, no control characters)."""
    return _CONTROL.sub(" ", value).strip()


def aware(value: dt.datetime) -> dt.datetime:
    """SQLite gives naive datetimes back: they are UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def is_verified(user: User) -> bool:
    return user.email_verified_at is not None


@dataclass
class EmailLinks:
    outbox: Outbox
    public_url: str = "http://127.0.0.1:8080"  # CRM_PUBLIC_URL: where the links point
    verification_ttl: dt.timedelta = DEFAULT_VERIFICATION_TTL
    unverified_grace: dt.timedelta = DEFAULT_UNVERIFIED_GRACE

    def _link(self, path: str, token: str) -> str:
        return f"{self.public_url.rstrip('/')}{path}?token={quote(token)}"

    def _send(self, session: Session, user: User, subject: str, lines: list[str], link: str,
              tenant_name: str | None = None) -> uuid.UUID:
        text = "\n\n".join([*lines, link, "If this wasn't you, ignore this email."]) + "\n"
        body = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
        markup = (f"<html><body>{body}<p><a href=\"{html.escape(link)}\">{html.escape(link)}</a></p>"
                  "<p>If this wasn't you, ignore this email.</p></body></html>")
        to = {"address": user.email, **({"name": _one_line(user.name)} if user.name and _one_line(user.name) else {})}
        return request_mail(self.outbox, session, tenant_id=user.tenant_id, to=[to], subject=subject[:998],
                            purpose="transactional", text=text, html=markup,
                            refers_to={"type": "user", "id": str(user.id)}, mailbox_hint=tenant_name or None)

    def send_verification(self, session: Session, user: User, company: str) -> None:
        """A new token (the old one stops working) and the email carrying it, in the caller's transaction."""
        token = new_secret()
        user.email_verification_hash = secret_hash(token)
        user.email_verification_expires_at = utcnow() + self.verification_ttl
        hours = max(1, round(self.verification_ttl.total_seconds() / 3600))
        name = _one_line(company) or "your account"
        self._send(session, user, f"Verify your email for {name}",
                   [f"Confirm that {user.email} is your address for {name}: open this link within {hours} hours."],
                   self._link(VERIFICATION_PAGE, token), tenant_name=_one_line(company))

    def send_invitation(self, session: Session, user: User, tenant: Tenant, token: str, expires: dt.datetime) -> None:
        name = _one_line(tenant.name) or "a CRM workspace"
        link = self._link(INVITATION_PAGE, token)
        self._send(session, user, f"You're invited to {name}", [
            f"You have been invited to {name}. Choose your password to accept (by {expires:%Y-%m-%d %H:%M} UTC):",
            f"POST {self.public_url.rstrip('/')}{ACCEPT_PATH} with {{\"invitation_token\": \"{token}\", "
            "\"password\": \"...\"}, or open the link in the app.",
        ], link, tenant_name=_one_line(tenant.name))

    def verify(self, session: Session, token: str, *, confirm: bool = True) -> tuple[User, bool]:
        """The user whose token this is, now verified; True when this call verified them (a
        second click of the same link answers the same, changing nothing). `confirm=False` only
        checks the token (the link's GET: mail scanners open every link, so a GET never verifies)."""
        user = session.scalars(select(User).where(User.email_verification_hash == secret_hash(token))
                               .with_for_update()).first() if token else None
        if user is None or user.deactivated_at is not None:
            raise BadRequest("The verification token is invalid or was replaced by a newer one.",
                             errors={"token": ["Unknown or replaced token; ask for a new email."]})
        if is_verified(user):
            return user, False
        if user.email_verification_expires_at is None or aware(user.email_verification_expires_at) <= utcnow():
            raise Gone("The verification link has expired; sign in and ask for a new one "
                       "(POST /v1/auth/verify-email/resend).", errors={"token": ["Expired."]})
        if not confirm:
            return user, False
        user.email_verified_at = utcnow()
        user.email_verification_expires_at = None
        return user, True

    def resend(self, session: Session, user_id: uuid.UUID | None) -> User:
        user = session.get(User, user_id) if user_id is not None else None
        if user is None or user.deactivated_at is not None:
            raise Forbidden("Only a signed-in user has an email to verify.")
        if is_verified(user):
            raise Conflict("This email address is already verified.", errors={"email": ["Already verified."]})
        tenant = session.get(Tenant, user.tenant_id)
        self.send_verification(session, user, tenant.name if tenant else "")
        return user

    def check_login(self, user: User, now: dt.datetime | None = None) -> None:
        """An unverified account past its grace period signs in no more: it can hold an address
        for a little while, never for good (403, with the way out)."""
        if is_verified(user) or self.unverified_grace.total_seconds() <= 0:
            return
        if aware(user.created_at) + self.unverified_grace <= (now or utcnow()):
            raise UnverifiedAccount(user.id)


class UnverifiedAccount(Forbidden):
    """Raised with the account's id so the login route can mail a fresh link before answering."""

    def __init__(self, user_id: uuid.UUID) -> None:
        super().__init__("Verify your email address to sign in: open the link we emailed you. A new link "
                         "is sent now (a few per hour at most); signed in, ask with POST /v1/auth/verify-email/resend.",
                         errors={"email": ["Not verified."]}, reason="email_not_verified")
        self.user_id = user_id

