"""The service desk as one object: the ticket use cases with every area's hooks installed.

Built the same way by the web app (api/__init__.py) and the worker (consumer.py), so a ticket a
consumer opens from an email is numbered, routed and given SLA clocks exactly like one created
over the API.
"""

from __future__ import annotations

from dataclasses import dataclass

from crm_core.settings import Settings
from crm_events.outbox import Outbox
from tickets.service.hooks import TicketHooks
from tickets.service.tickets import TicketService


@dataclass
class Desk:
    settings: Settings
    outbox: Outbox
    hooks: TicketHooks
    tickets: TicketService


def build_desk(settings: Settings, outbox: Outbox) -> Desk:
    # Imported here: the area modules import Desk for their type hints.
    from tickets.schemas.tickets import TicketSchema
    from tickets.service import conversations, csat, kb, portal, routing, sla, tickets

    hooks = TicketHooks()
    desk = Desk(settings, outbox, hooks, TicketService(outbox, TicketSchema().dump, hooks))
    # The order of installation is the order of the hooks: routing before SLA (a policy's
    # condition may name the team), SLA before the knowledge base's suggestions.
    for area in (tickets, routing, sla, kb, conversations, portal, csat):
        area.install(desk)
    return desk
