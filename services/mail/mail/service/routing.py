"""Which tenant an inbound message is for: the recipient address names a mailbox, the mailbox a
tenant. Nothing else (not a header, not the sender) can move a message into a tenant."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from mail.models import Mailbox
from mail.service.mailboxes import Address, by_name, split_address
from mail.service.parsing import Parsed

# SMTP replies (RFC 5321 codes, RFC 3463 enhanced status codes).
NO_SUCH_MAILBOX = "550 5.1.1 No such mailbox here"
BAD_ADDRESS = "550 5.1.3 Bad recipient address syntax"
RELAY_DENIED = "550 5.7.1 Relaying denied: this server only takes mail for its own domain"


@dataclass(frozen=True)
class Route:
    tenant_id: uuid.UUID
    mailbox: str
    tag: str | None
    token: str | None
    recipient: str  # the address that routed it, as <mailbox>[+tag]@<domain>


def _route(box: Mailbox, address: Address, domain: str) -> Route:
    return Route(box.tenant_id, box.name, address.tag, address.token, address.render(domain))


def route_recipient(session: Session, recipient: str, domain: str) -> Route | str:
    """The route of an RCPT TO address, or the SMTP reply refusing it."""
    address, ours = split_address(recipient, domain)
    if not ours:
        return RELAY_DENIED
    if address is None or not address.mailbox:
        return BAD_ADDRESS
    box = by_name(session, address.mailbox)
    if box is None:
        return NO_SUCH_MAILBOX
    return _route(box, address, domain)


def route_in_mailbox(box: Mailbox, parsed: Parsed, domain: str) -> Route:
    """The raw-MIME webhook: the secret already chose the tenant; the tag comes from the first of
    Delivered-To, X-Original-To, To, Cc that names this mailbox (and only this one), else none."""
    candidates = [*parsed.delivered_to, *(p["address"] for p in (*parsed.to, *parsed.cc))]
    for candidate in candidates:
        address, ours = split_address(candidate or "", domain)
        if ours and address is not None and address.mailbox == box.name:
            return _route(box, address, domain)
    return _route(box, Address(box.name, None, None), domain)


def distinct(routes: Iterable[Route]) -> list[Route]:
    """One copy per tenant and address: the same RCPT twice is one message; the same message to
    acme+support@ and acme+log@ is two (each tag triggers its own work), each only in its tenant."""
    seen: set[tuple[uuid.UUID, str | None, str | None]] = set()
    out = []
    for route in routes:
        key = (route.tenant_id, route.tag, route.token)
        if key not in seen:
            seen.add(key)
            out.append(route)
    return out
