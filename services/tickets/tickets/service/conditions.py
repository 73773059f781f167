"""Conditions on tickets in the filter language (crm_query), shared by list filters, SLA
policies and routing rules: `priority = 'urgent' and tags in ('vip')`.

A condition is checked against one ticket by asking the database (the same compiler as `?filter=`,
so a rule means exactly what the same text means in a list), after the ticket's row is flushed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_query import FieldRegistry, FieldType, column_field, compile_filter, property_field
from tickets.models import CHANNELS, PRIORITIES, STATUS_ALIASES, STATUSES, Ticket
from tickets.service.properties import STORE


def _status_rank(value: str) -> int:
    return STATUSES.index(STATUS_ALIASES.get(value, value))


def ticket_fields(session: Session) -> FieldRegistry:
    """Every field a ticket condition or list filter may name: the built-in ones, then the tenant's
    active custom fields by key. Built once per transaction (with the definitions it reads);
    treat it as read-only."""
    active = STORE.active(session)
    registry = active.derived.get("fields")
    if registry is None:
        registry = active.derived["fields"] = FieldRegistry(_builtin_fields())
        for key, definition in active.by_key.items():
            registry.add(property_field(key, definition.type, Ticket.properties, definition.options))
    return registry


def _builtin_fields() -> list:
    return [
        column_field("id", FieldType.UUID, Ticket.id),
        column_field("created_at", FieldType.DATETIME, Ticket.created_at),
        column_field("updated_at", FieldType.DATETIME, Ticket.updated_at),
        column_field("number", FieldType.NUMBER, Ticket.number),
        column_field("subject", FieldType.TEXT, Ticket.subject),
        column_field("description", FieldType.TEXT, Ticket.description, sortable=False),
        # Status and priority compare and sort by their ranks (workflow order, urgency), which is
        # also what the indexes cover: `status = 'open'` is `status_rank = 1`.
        column_field("status", FieldType.ENUM, Ticket.status_rank, options=(*STATUSES, *STATUS_ALIASES),
                     normalise=_status_rank),
        column_field("custom_status", FieldType.TEXT, Ticket.custom_status),
        column_field("priority", FieldType.ENUM, Ticket.priority_rank, options=PRIORITIES, normalise=PRIORITIES.index),
        column_field("channel", FieldType.ENUM, Ticket.channel, options=CHANNELS),
        column_field("tags", FieldType.TAGS, Ticket.tags),
        column_field("requester_email", FieldType.EMAIL, Ticket.requester_email, normalise=str.lower),
        column_field("requester_name", FieldType.TEXT, Ticket.requester_name),
        column_field("contact_id", FieldType.UUID, Ticket.contact_id),
        column_field("company_id", FieldType.UUID, Ticket.company_id),
        column_field("assignee_id", FieldType.UUID, Ticket.assignee_id),
        column_field("team_id", FieldType.UUID, Ticket.team_id),
        column_field("sla_breached", FieldType.BOOL, Ticket.sla_breached),
        column_field("sla_due_at", FieldType.DATETIME, Ticket.sla_due_at),
        column_field("resolved_at", FieldType.DATETIME, Ticket.resolved_at),
        column_field("closed_at", FieldType.DATETIME, Ticket.closed_at),
        column_field("linked_ticket_id", FieldType.UUID, Ticket.linked_ticket_id),
        column_field("last_customer_message_at", FieldType.DATETIME, Ticket.last_customer_message_at),
        column_field("last_agent_reply_at", FieldType.DATETIME, Ticket.last_agent_reply_at),
    ]


def check_condition(session: Session, condition: str | None) -> None:
    """Raises the filter language's 400 naming the problem (unknown field, bad value, syntax)."""
    if condition:
        compile_filter(condition, ticket_fields(session), session.get_bind().dialect.name)


def first_match(session: Session, ticket_id: uuid.UUID, conditions: Sequence[tuple[uuid.UUID, str | None]]) -> uuid.UUID | None:
    """The key of the first (key, condition) the ticket satisfies; an empty condition matches all."""
    registry, dialect = ticket_fields(session), session.get_bind().dialect.name
    for key, condition in conditions:
        where = compile_filter(condition, registry, dialect) if condition else None
        stmt = select(Ticket.id).where(Ticket.id == ticket_id)
        if where is not None:
            stmt = stmt.where(where)
        if session.scalars(stmt).first() is not None:
            return key
    return None
