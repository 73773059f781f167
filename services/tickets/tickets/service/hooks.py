"""What the areas of the service do when a ticket is created, changes or gets a message.

The ticket use cases (service/tickets.py) call these inside their transaction, so a ticket is
numbered, matched to its requester, routed, given its SLA clocks and its suggested articles in the
same commit that creates it. Each area registers its callbacks at composition (app.py,
`install_hooks`); the order of registration is the order of the calls (routing before SLA: a
policy's condition may name the team).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from tickets.models import Ticket

Created = Callable[[Session, "Ticket"], None]
# changes: field -> [before, after] as the API shows them (the same shape as crm.ticket.updated)
Changed = Callable[[Session, "Ticket", dict[str, list[Any]]], None]
# message: the ticket_messages row just written (tickets.models.conversations)
MessageAdded = Callable[[Session, "Ticket", Any], None]
# An SLA target of the ticket reached its warning threshold (target: first_response,
# next_response or resolution); routing may escalate to the team lead.
SlaWarning = Callable[[Session, "Ticket", str], None]


@dataclass
class TicketHooks:
    created: list[Created] = field(default_factory=list)
    changed: list[Changed] = field(default_factory=list)
    message_added: list[MessageAdded] = field(default_factory=list)
    sla_warning: list[SlaWarning] = field(default_factory=list)

    def on_created(self, session: Session, ticket: Ticket) -> None:
        for hook in self.created:
            hook(session, ticket)

    def on_changed(self, session: Session, ticket: Ticket, changes: dict[str, list[Any]]) -> None:
        for hook in self.changed:
            hook(session, ticket, changes)

    def on_message(self, session: Session, ticket: Ticket, message: Any) -> None:
        for hook in self.message_added:
            hook(session, ticket, message)

    def on_sla_warning(self, session: Session, ticket: Ticket, target: str) -> None:
        for hook in self.sla_warning:
            hook(session, ticket, target)
