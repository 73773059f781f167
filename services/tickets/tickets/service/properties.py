"""Custom fields of tickets: definitions at /v1/properties/tickets, the same types, checks and
filter behaviour as contacts' and deals' (crm_properties). Definitions are read once per
transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from crm_properties import Definition, check_key, merge_values, visible_values
from crm_properties.routes import DefinitionStore
from tickets.models import Ticket, TicketPropertyDefinition

STORE = DefinitionStore(TicketPropertyDefinition, "ticket")
# Ticket fields a custom field may not shadow (besides the filter language's words).
BUILTINS = frozenset(c.key for c in Ticket.__table__.columns) | {"sla", "messages"}


def active_definitions(session: Session) -> Mapping[str, Definition]:
    return STORE.active(session).by_key


def visible(session: Session | None, values: dict[str, Any] | None) -> dict[str, Any]:
    """Values of active properties only: archiving hides values without deleting them."""
    if not values or session is None:
        return {}
    return visible_values(active_definitions(session), values)


def check_ticket_values(session: Session, incoming: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    """Merge and check a ticket's custom field values; 422 names `properties.<key>`. On create
    (`current` None) every required property must be present."""
    return merge_values(active_definitions(session), "ticket", incoming, current, None, collection="tickets")


def check_ticket_key(object_: str, key: str) -> None:
    check_key(object_, key, BUILTINS)
