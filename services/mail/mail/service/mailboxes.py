"""Tenants' inbound mailboxes: <name>@<CRM_INBOUND_DOMAIN> and its plus-tags.

`mailboxes` is a platform table (no RLS: the SMTP server routes a recipient to its tenant before
any tenant is known), so every statement here that serves one tenant names that tenant itself.
"""

from __future__ import annotations

import functools
import re
import secrets
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_core.ids import secret_hash
from crm_db.base import utcnow
from crm_events.outbox import Outbox
from mail.models import Mailbox, metadata

MIN_LENGTH, MAX_LENGTH = 3, 40
NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
# Role addresses of the platform's own domain (RFC 2142 and the like): never a tenant's.
RESERVED = frozenset({
    "postmaster", "abuse", "bounces", "bounce", "mailer-daemon", "noreply", "no-reply", "support", "admin",
    "administrator", "hostmaster", "webmaster", "security", "root", "info", "www", "mail", "inbound", "crm",
    "help", "billing", "sales", "marketing", "system", "daemon", "nobody",
})
SUFFIX_TRIES = 8
# A tenant's mailbox got or changed its name (data: tenant_id, name, previous_name), on
# crm.mail.mailbox keyed by the tenant: the tickets help centre finds /portal/{name}/ by it.
MAILBOX_NAMED = "crm.mailbox.named"


class MailboxNameError(ValueError):
    """A mailbox name a tenant may not have (the message says why)."""


class MailboxTaken(MailboxNameError):
    """The name belongs to another tenant's mailbox."""


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a mailbox name, or None when it can."""
    if not MIN_LENGTH <= len(name) <= MAX_LENGTH:
        return f"Must be {MIN_LENGTH} to {MAX_LENGTH} characters."
    if not NAME.match(name):
        return "Use lower-case letters, digits and hyphens, starting and ending with a letter or digit."
    if "--" in name:
        return "Must not contain two hyphens in a row."
    if name in RESERVED:
        return f"{name!r} is reserved."
    return None


def slug(text: str | None) -> str:
    """A mailbox name from a tenant's name: "Acme GmbH & Co." -> "acme-gmbh-co"."""
    ascii_text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode().lower()
    base = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")[:MAX_LENGTH - 5].strip("-")
    if len(base) < MIN_LENGTH or base in RESERVED:
        base = f"{base}-team".strip("-") if base else "team"
    return base


def _candidates(base: str) -> list[str]:
    # The bare slug first; then short random suffixes (not counters: no name reveals how many
    # tenants picked the same one).
    return [base] + [f"{base}-{secrets.token_hex(2)}" for _ in range(SUFFIX_TRIES)]


def get_mailbox(session: Session, tenant_id: uuid.UUID) -> Mailbox | None:
    return session.scalars(select(Mailbox).where(Mailbox.tenant_id == tenant_id)).first()


def mailbox_for(session: Session, tenant_id: uuid.UUID, name_hint: str | None = None) -> Mailbox:
    """The tenant's mailbox, made now (named after `name_hint`, else a neutral name) if it has none.

    Concurrent callers (the tenant consumer, a first GET /v1/mail/addresses, the send path) race
    on the primary key; each insert runs in a savepoint, so the loser re-reads the winner's row
    and the caller's transaction goes on."""
    found = get_mailbox(session, tenant_id)
    if found is not None:
        return found
    base = slug(name_hint) if name_hint else f"crm-{tenant_id.hex[:8]}"
    for name in _candidates(base):
        if session.scalars(select(Mailbox.tenant_id).where(Mailbox.name == name)).first() is not None:
            continue
        row = Mailbox(tenant_id=tenant_id, name=name, created_at=utcnow())
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            found = get_mailbox(session, tenant_id)
            if found is not None:
                return found
            continue  # the name went to another tenant meanwhile
        announce(session, row)
        return row
    raise RuntimeError(f"no free mailbox name for {base!r} after {SUFFIX_TRIES} suffixes")


def rename(session: Session, tenant_id: uuid.UUID, name: str) -> Mailbox:
    """Give the tenant's mailbox another name: MailboxNameError if invalid, MailboxTaken if another
    tenant has it (a race past this check ends in the unique constraint: IntegrityError, a 409)."""
    name = name.strip().lower()
    if (problem := name_problem(name)) is not None:
        raise MailboxNameError(problem)
    box = mailbox_for(session, tenant_id)
    if box.name != name:
        taken = session.scalars(select(Mailbox.tenant_id).where(Mailbox.name == name)).first()
        if taken is not None:
            raise MailboxTaken(f"The mailbox name {name!r} is taken.")
        previous, box.name = box.name, name
        session.flush()
        announce(session, box, previous)
    return box


@functools.cache
def _outbox() -> Outbox:
    return Outbox("mail", metadata())  # built at the first announcement, not at import


def announce(session: Session, box: Mailbox, previous_name: str | None = None) -> None:
    """crm.mailbox.named for the tenant's mailbox, in the caller's transaction (the outbox)."""
    _outbox().emit(session, MAILBOX_NAMED, box.tenant_id,
                   {"tenant_id": str(box.tenant_id), "name": box.name, "previous_name": previous_name},
                   tenant_id=box.tenant_id)


def rotate_secret(session: Session, tenant_id: uuid.UUID) -> tuple[Mailbox, str]:
    """A new raw-MIME webhook secret for the tenant (the old one stops working); shown once."""
    box = mailbox_for(session, tenant_id)
    secret = secrets.token_urlsafe(32)
    box.inbound_secret_hash = secret_hash(secret)
    box.inbound_secret_rotated_at = utcnow()
    session.flush()
    return box, secret


def by_secret(session: Session, secret: str) -> Mailbox | None:
    if not secret or len(secret) > 200:
        return None
    return session.scalars(select(Mailbox).where(Mailbox.inbound_secret_hash == secret_hash(secret))).first()


def by_name(session: Session, name: str) -> Mailbox | None:
    return session.scalars(select(Mailbox).where(Mailbox.name == name)).first()


@dataclass(frozen=True)
class Address:
    """A parsed inbound address: <mailbox>[+<detail>]@<domain>."""

    mailbox: str
    tag: str | None  # support | log | deal (log on a deal) | t (reply token) | b (bounce, VERP) | any other detail
    token: str | None  # the reply token, the bounced message's id (hex), or the deal number

    def render(self, domain: str) -> str:
        detail = f"{self.tag}-{self.token}" if self.token else self.tag
        return f"{self.mailbox}+{detail}@{domain}" if detail else f"{self.mailbox}@{domain}"


TOKEN_TAGS = ("t", "b")
# <mailbox>+deal-<number>@: logged mail (like +log@) for the tenant's deal with that number.
DEAL_TAG = "deal"
MAX_DEAL_DIGITS = 18  # a BIGINT


def parse_local(local: str) -> Address:
    """`acme+t-AbC_123` -> Address("acme", "t", "AbC_123"). Tokens keep their case (they are
    minted case-sensitive); the mailbox and plain tags are matched lower-case."""
    mailbox, _, detail = local.partition("+")
    mailbox = mailbox.lower()
    if not detail:
        return Address(mailbox, None, None)
    head, dash, rest = detail.partition("-")
    if dash and head.lower() in TOKEN_TAGS and rest:
        return Address(mailbox, head.lower(), rest[:100])
    if dash and head.lower() == DEAL_TAG and rest.isascii() and rest.isdigit() and len(rest) <= MAX_DEAL_DIGITS:
        return Address(mailbox, DEAL_TAG, str(int(rest)))  # "deal-007" is deal 7
    return Address(mailbox, detail.lower()[:40], None)


def split_address(address: str, domain: str) -> tuple[Address | None, bool]:
    """(the parsed address, whether the domain is ours). A foreign domain gives (None, False)."""
    address = address.strip().strip("<>")
    local, at, dom = address.rpartition("@")
    if not at or not local:
        return None, dom.lower() == domain
    if dom.lower().rstrip(".") != domain:
        return None, False
    return parse_local(local), True


TENANT_GROUP = "mail.tenants"
TENANT_TOPIC = "crm.gateway.tenant"


def tenant_handlers() -> dict[str, Any]:
    """crm.tenant.created -> the new tenant's mailbox, named after it (data: {id, name})."""

    def on_tenant_created(session: Session, event: Any) -> None:
        tenant = uuid.UUID(str(event.data.get("id") or event.tenant_id))
        if tenant != uuid.UUID(str(event.tenant_id)):
            return  # an event about another tenant than it was written for: not ours to act on
        existing = get_mailbox(session, tenant)
        if existing is not None:
            announce(session, existing)  # made before this event (a first read, say): said again, harmlessly
            return
        mailbox_for(session, tenant, name_hint=str(event.data.get("name") or "") or None)

    return {"crm.tenant.created": on_tenant_created}
