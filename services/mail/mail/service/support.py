"""The tenant's support address: <mailbox>+support@<CRM_INBOUND_DOMAIN>, with the tenant's name.

Mail the service desk sends (crm_mail.requests `from_support`) goes out from it, so a customer's
answer comes back to the desk even when their client drops the Reply-To (the reply token), and
mail to it opens tickets (the tickets service consumes crm.mail.received with tag `support`).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from crm_events.consumer import Handler
from mail.models import Mailbox
from mail.service import mailboxes
from mail.service.render import Identity

SUPPORT_TAG = "support"
MAX_NAME = 200


def support_identity(box: Mailbox, domain: str, name: str | None = None) -> Identity:
    """From: the requester's display name if it gave one, else the tenant's, else the mailbox's."""
    return Identity(f"{box.name}+{SUPPORT_TAG}@{domain}", name or box.display_name or box.name)


def remember_name(box: Mailbox, name: str | None) -> None:
    """Keep the tenant's name on its mailbox the first time it is known (it never changes later:
    tenants are not renamed)."""
    name = " ".join((name or "").split())[:MAX_NAME]
    if name and not box.display_name:
        box.display_name = name


def tenant_handlers() -> dict[str, Handler]:
    """mailboxes.tenant_handlers, plus the tenant's name kept on the mailbox it makes."""
    handlers = dict(mailboxes.tenant_handlers())
    make = handlers["crm.tenant.created"]

    def on_tenant_created(session: Session, event: Any) -> None:
        make(session, event)
        tenant = uuid.UUID(str(event.data.get("id") or event.tenant_id))
        box = mailboxes.get_mailbox(session, tenant)
        if box is not None and tenant == uuid.UUID(str(event.tenant_id)):
            remember_name(box, str(event.data.get("name") or ""))
            session.flush()

    handlers["crm.tenant.created"] = on_tenant_created
    return handlers
