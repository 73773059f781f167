"""Tickets, their per-tenant numbers and settings, custom field definitions and the requesters'
contact projection. Every table is tenant-scoped: tenant_id leads keys and indexes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Boolean, DateTime, Index, Integer, SmallInteger, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, validates

from crm_db.base import JsonType, TenantScoped, utcnow
from crm_db.timers import timer_table
from tickets.models.base import Base

# Order matters: it is the sort order (stored as a rank). Reordering or inserting needs a
# migration that recomputes status_rank / priority_rank (0002 did, for on_hold).
STATUSES = ("new", "open", "pending", "on_hold", "resolved", "closed")
DONE_STATUSES = frozenset({"resolved", "closed"})  # a ticket in these carries resolved_at
# Waiting on someone else: the SLA clocks stop (pending: the customer; on_hold: a third party).
PAUSED_STATUSES = frozenset({"pending", "on_hold"})
PRIORITIES = ("low", "normal", "high", "urgent")
CHANNELS = ("email", "portal", "api", "phone")
# Accepted on input for the status of the same meaning (the issue spells it "on-hold").
STATUS_ALIASES = {"on-hold": "on_hold"}
DEFAULT_AUTO_CLOSE_DAYS = 7
DEFAULT_STATUS, DEFAULT_PRIORITY, DEFAULT_CHANNEL = "new", "normal", "api"

# Not under RLS, like the outbox: the scheduler claims due rows across tenants (crm_db.timers).
# Kinds: SLA warnings and breaches, auto-close of resolved tickets.
timers = timer_table(Base.metadata)


class Ticket(TenantScoped, Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("tickets_tenant_created_idx", "tenant_id", "created_at", "id"),
        # One index per list filter / sort key; each ends in id for keyset pagination. Status and
        # priority are filtered and sorted through their ranks, so one index serves both.
        Index("tickets_tenant_status_idx", "tenant_id", "status_rank", "id"),
        Index("tickets_tenant_priority_idx", "tenant_id", "priority_rank", "id"),
        Index("tickets_tenant_subject_idx", "tenant_id", "subject", "id"),
        Index("tickets_tenant_assignee_idx", "tenant_id", "assignee_id", "id"),
        Index("tickets_tenant_contact_idx", "tenant_id", "contact_id", "id"),
        Index("tickets_tenant_number_key", "tenant_id", "number", unique=True),
        Index("tickets_tenant_team_idx", "tenant_id", "team_id", "id"),
        Index("tickets_tenant_requester_email_idx", "tenant_id", "requester_email"),
        # "breaching soon": open tickets by their next SLA due time.
        Index("tickets_tenant_sla_due_idx", "tenant_id", "sla_due_at", "id"),
        Index("tickets_tenant_updated_idx", "tenant_id", "updated_at", "id"),
    )

    # #1001, #1002, ... per tenant (TicketCounter), never reused.
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    subject: Mapped[str] = mapped_column(String(300), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=DEFAULT_STATUS)
    # A tenant's own status (ticket_statuses.key) shown instead of the base status it maps onto.
    custom_status: Mapped[str | None] = mapped_column(String(40))
    priority: Mapped[str] = mapped_column(String(20), nullable=False, default=DEFAULT_PRIORITY)
    channel: Mapped[str] = mapped_column(String(20), nullable=False, default=DEFAULT_CHANNEL)
    # Ids in other services' databases: no foreign keys across service boundaries.
    # The requester: a contact (contact_id) once matched or created by email address.
    contact_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    requester_email: Mapped[str | None] = mapped_column(String(320))  # lower-cased
    requester_name: Mapped[str | None] = mapped_column(String(200))
    company_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())  # the requester's company
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    team_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    tags: Mapped[list[str]] = mapped_column(JsonType, nullable=False, default=list)
    properties: Mapped[dict[str, Any]] = mapped_column(JsonType, nullable=False, default=dict)
    # A customer's reply to a closed ticket opens a new one linked to it.
    linked_ticket_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # SLA summary for lists and sorting (the per-target state lives in the SLA tables): the
    # policy applied, the earliest due time of a running unmet target, and whether any breached.
    sla_policy_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    sla_due_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    sla_breached: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # The knowledge-base articles whose search ranked best for the subject and body at creation.
    suggested_article_ids: Mapped[list[str]] = mapped_column(JsonType, nullable=False, default=list)
    last_customer_message_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_agent_reply_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Sorting by priority means by urgency (low < normal < high < urgent) and by status means
    # workflow order, not alphabetical; the ranks follow their labels through @validates.
    status_rank: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=STATUSES.index(DEFAULT_STATUS))
    priority_rank: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=PRIORITIES.index(DEFAULT_PRIORITY))

    @validates("status")
    def _rank_status(self, _key: str, value: str) -> str:
        self.status_rank = STATUSES.index(value)
        return value

    @validates("priority")
    def _rank_priority(self, _key: str, value: str) -> str:
        self.priority_rank = PRIORITIES.index(value)
        return value


class TicketCounter(Base):
    """The next ticket number of a tenant: one row, bumped with UPDATE ... RETURNING so concurrent
    creates serialise on it and never share a number."""

    __tablename__ = "ticket_counters"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    next_number: Mapped[int] = mapped_column(Integer, nullable=False, default=1001)


class TicketSettingsRow(Base):
    """A tenant's desk settings (one row per tenant; defaults while there is none)."""

    __tablename__ = "ticket_settings"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    # The tenant's own statuses: [{"key", "label", "base"}], base one of STATUSES.
    statuses: Mapped[list[dict[str, str]]] = mapped_column(JsonType, nullable=False, default=list)
    # A resolved ticket closes after this many days; 0 = never.
    auto_close_days: Mapped[int] = mapped_column(Integer, nullable=False, default=DEFAULT_AUTO_CLOSE_DAYS)
    # Portal requesters also see the tickets of their company.
    portal_company_tickets: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow,
                                                    onupdate=utcnow)


class TicketPropertyDefinition(TenantScoped, Base):
    """A custom field of tickets (crm_properties types); its values live under the ticket's `properties`."""

    __tablename__ = "ticket_property_definitions"
    __table_args__ = (UniqueConstraint("tenant_id", "key", name="ticket_property_definitions_key"),)

    key: Mapped[str] = mapped_column(String(64), nullable=False)
    label: Mapped[str] = mapped_column(String(200), nullable=False)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    options: Mapped[list[str] | None] = mapped_column(JsonType)
    required: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    archived_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def object(self) -> str:
        return "ticket"


class TicketContact(TenantScoped, Base):
    """The contacts service's contacts as requester matching needs them (id = the contact's id),
    kept from crm.contact.* events (crm_events.replicas)."""

    __tablename__ = "ticket_contacts"
    __table_args__ = (Index("ticket_contacts_tenant_email_idx", "tenant_id", "email"),)

    email: Mapped[str | None] = mapped_column(String(320))  # lower-cased
    name: Mapped[str | None] = mapped_column(String(400))
    company_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    deleted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # The event time of the state held: an older event arriving late changes nothing.
    event_time: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
