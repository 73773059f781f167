"""Contacts tables. Every tenant table is tenant-scoped: tenant_id leads keys and indexes.

PostgreSQL-only indexes (GIN over JSONB and trigram search) live in the migrations, not here:
SQLite has no such index types.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crm_db.base import JsonType, TenantScoped, utcnow
from crm_events.tables import event_tables
from crm_http.idempotency import idempotency_table

LIFECYCLE_STAGES = ("subscriber", "lead", "marketing_qualified", "sales_qualified", "opportunity", "customer",
                    "evangelist", "other")
LEAD_STATUSES = ("new", "open", "in_progress", "attempted_to_contact", "connected", "open_deal", "unqualified",
                 "bad_timing")
ACTIVITY_TYPES = ("note", "call", "email", "meeting")
OBJECTS = ("contact", "company")


def _empty_list() -> list[Any]:
    return []


def _empty_dict() -> dict[str, Any]:
    return {}


class Base(DeclarativeBase):
    metadata = MetaData()


class Contact(TenantScoped, Base):
    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "email", name="contacts_tenant_email_key"),
        Index("contacts_tenant_created_idx", "tenant_id", "created_at", "id"),
        Index("contacts_tenant_last_name_idx", "tenant_id", "last_name", "id"),
        Index("contacts_tenant_updated_idx", "tenant_id", "updated_at", "id"),
        Index("contacts_tenant_score_idx", "tenant_id", "lead_score", "id"),
        Index("contacts_tenant_last_contacted_idx", "tenant_id", "last_contacted_at", "id"),
        Index("contacts_tenant_stage_idx", "tenant_id", "lifecycle_stage", "created_at", "id"),
        Index("contacts_tenant_company_idx", "tenant_id", "company_id"),
        Index("contacts_tenant_phone_idx", "tenant_id", "phone"),
    )

    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))  # lower case, unique per tenant
    emails: Mapped[list[str]] = mapped_column(JsonType, default=_empty_list, nullable=False)  # additional
    phone: Mapped[str | None] = mapped_column(String(40))  # E.164
    company_name: Mapped[str | None] = mapped_column(String(200))
    company_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())  # the primary company
    company_ids: Mapped[list[str]] = mapped_column(JsonType, default=_empty_list, nullable=False)  # all links
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    lifecycle_stage: Mapped[str | None] = mapped_column(String(32))
    lead_status: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str | None] = mapped_column(String(100))
    tags: Mapped[list[str]] = mapped_column(JsonType, default=_empty_list, nullable=False)
    address: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    properties: Mapped[dict[str, Any]] = mapped_column(JsonType, default=_empty_dict, nullable=False)
    lead_score: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    last_contacted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    merged_ids: Mapped[list[str]] = mapped_column(JsonType, default=_empty_list, nullable=False)
    # Lower-cased names, emails, phone digits and company name: what `q=` searches (trigram index on PG).
    search_text: Mapped[str] = mapped_column(Text, default="", nullable=False)


class Company(TenantScoped, Base):
    __tablename__ = "companies"
    __table_args__ = (
        UniqueConstraint("tenant_id", "domain", name="companies_tenant_domain_key"),
        Index("companies_tenant_created_idx", "tenant_id", "created_at", "id"),
        Index("companies_tenant_name_idx", "tenant_id", "name", "id"),
        Index("companies_tenant_updated_idx", "tenant_id", "updated_at", "id"),
    )

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    domain: Mapped[str | None] = mapped_column(String(253))  # "acme.com": lower case, no scheme, no www.
    industry: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int | None] = mapped_column(Integer)  # number of employees
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    tags: Mapped[list[str]] = mapped_column(JsonType, default=_empty_list, nullable=False)
    properties: Mapped[dict[str, Any]] = mapped_column(JsonType, default=_empty_dict, nullable=False)
    last_contacted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    merged_ids: Mapped[list[str]] = mapped_column(JsonType, default=_empty_list, nullable=False)
    search_text: Mapped[str] = mapped_column(Text, default="", nullable=False)


# One row per tenant, its version bumped by a trigger (migration 0004) in the transaction of any
# change to property_definitions: processes cache a tenant's definitions and re-read them when the
# version they find differs (contacts.service.properties). Increasing microsecond stamps, not
# +1, so a row deleted and recreated never repeats a version a process still holds.
property_definition_versions = Table(
    "property_definition_versions", Base.metadata,
    Column("tenant_id", Uuid(), primary_key=True),
    Column("version", BigInteger, nullable=False),
)


class PropertyDefinition(TenantScoped, Base):
    """A custom field of contacts or companies; its values live under the record's `properties`."""

    __tablename__ = "property_definitions"
    __table_args__ = (UniqueConstraint("tenant_id", "object", "key", name="property_definitions_key"),)

    object: Mapped[str] = mapped_column(String(16), nullable=False)  # contact | company
    key: Mapped[str] = mapped_column(String(64), nullable=False)
    label: Mapped[str] = mapped_column(String(200), nullable=False)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    options: Mapped[list[str] | None] = mapped_column(JsonType)
    required: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    archived_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Activity(TenantScoped, Base):
    """A note, call, email or meeting on a contact's and/or a company's timeline."""

    __tablename__ = "activities"
    __table_args__ = (
        Index("activities_contact_timeline_idx", "tenant_id", "contact_id", "occurred_at", "id"),
        Index("activities_company_timeline_idx", "tenant_id", "company_id", "occurred_at", "id"),
        Index("activities_thread_idx", "tenant_id", "thread_id", "occurred_at", "id"),
        Index("activities_deal_timeline_idx", "tenant_id", "deal_id", "occurred_at", "id"),
        Index("activities_reply_token_idx", "tenant_id", "reply_token"),
    )

    type: Mapped[str] = mapped_column(String(16), nullable=False)
    contact_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    company_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    author_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    subject: Mapped[str | None] = mapped_column(String(500))
    body: Mapped[str | None] = mapped_column(Text)
    direction: Mapped[str | None] = mapped_column(String(16))  # inbound | outbound
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str | None] = mapped_column(String(32))
    starts_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # A meeting's attendees: [{"email", "name"?, "status": needs_action|accepted|declined|tentative}].
    attendees: Mapped[list[dict[str, Any]] | None] = mapped_column(JsonType)
    # The deal (a DealRef) the activity is about: it is on the deal's timeline as well.
    deal_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    # Meetings: where and in which zone (the invitation's TZID); invitations by mail when asked.
    location: Mapped[str | None] = mapped_column(String(500))
    time_zone: Mapped[str | None] = mapped_column(String(64))
    send_invitations: Mapped[bool | None] = mapped_column(Boolean)
    cancelled: Mapped[bool | None] = mapped_column(Boolean)
    sequence: Mapped[int | None] = mapped_column(Integer)  # iCalendar SEQUENCE of the last invitation sent
    reply_token: Mapped[str | None] = mapped_column(String(64))  # attendees' replies come back with it
    # An email logged from the mail service (mail to <mailbox>+log@): its message and conversation.
    inbound_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())  # the LoggedEmail (= inbound message) id
    thread_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    message_id: Mapped[str | None] = mapped_column(String(998))
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    references: Mapped[list[str] | None] = mapped_column("email_references", JsonType)  # a reserved word in SQL
    participants: Mapped[list[dict[str, Any]] | None] = mapped_column(JsonType)


class DealRef(TenantScoped, Base):
    """The pipeline's deals as contacts knows them (from crm.deal.* events): enough to validate a
    deal_id and to route mail to <mailbox>+deal-<number>@. id = the deal's id."""

    __tablename__ = "deal_refs"
    __table_args__ = (Index("deal_refs_number_idx", "tenant_id", "number"),)

    number: Mapped[int | None] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(String(500))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    # The deal's own version: an older event arriving late changes nothing.
    deal_version: Mapped[int] = mapped_column(Integer, default=0, nullable=False)


class LoggedEmail(TenantScoped, Base):
    """A message a user logged by mail (BCC to <mailbox>+log@), id = the mail service's inbound id.

    Kept whether or not it matched a contact: an unmatched one waits here (its addresses in
    logged_email_addresses) until a contact with one of them appears or someone assigns it."""

    __tablename__ = "logged_emails"
    __table_args__ = (
        Index("logged_emails_status_idx", "tenant_id", "status", "occurred_at", "id"),
        Index("logged_emails_message_idx", "tenant_id", "message_id"),
        Index("logged_emails_thread_idx", "tenant_id", "thread_id"),
        Index("logged_emails_deal_number_idx", "tenant_id", "deal_number"),
    )

    status: Mapped[str] = mapped_column(String(16), nullable=False)  # matched | unmatched
    message_id: Mapped[str | None] = mapped_column(String(998))
    thread_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False)
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    references: Mapped[list[str]] = mapped_column("email_references", JsonType, default=_empty_list, nullable=False)
    from_address: Mapped[str | None] = mapped_column(String(320))
    from_name: Mapped[str | None] = mapped_column(String(200))
    participants: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=_empty_list, nullable=False)
    subject: Mapped[str | None] = mapped_column(String(500))
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    snippet: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str | None] = mapped_column(Text)  # the text, cut: what a later match logs
    contact_ids: Mapped[list[str]] = mapped_column(JsonType, default=_empty_list, nullable=False)
    # Sent to <mailbox>+deal-<number>@: the deal it is for, and once that deal is known, its id
    # (a message for a deal number contacts does not know yet waits for the deal's event).
    deal_number: Mapped[int | None] = mapped_column(BigInteger)
    deal_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    matched_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


# The addresses of the unmatched logged emails, one row each: what a new or changed contact's
# addresses are looked up in (primary key index). Rows go when their email is matched.
logged_email_addresses = Table(
    "logged_email_addresses", Base.metadata,
    Column("tenant_id", Uuid(), primary_key=True),
    Column("address", String(320), primary_key=True),
    Column("logged_email_id", Uuid(), primary_key=True),
)


class ScoringRule(TenantScoped, Base):
    __tablename__ = "scoring_rules"

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    filter: Mapped[str] = mapped_column(Text, nullable=False)
    points: Mapped[int] = mapped_column(Integer, nullable=False)
    # Points fade linearly to 0 over this many days since the last contact (None: no decay).
    decay_days: Mapped[int | None] = mapped_column(Integer)


class Merge(TenantScoped, Base):
    """One merge of a secondary record into a primary, with what it takes to undo it."""

    __tablename__ = "merges"
    __table_args__ = (
        Index("merges_secondary_idx", "tenant_id", "object", "secondary_id"),
        Index("merges_primary_idx", "tenant_id", "object", "primary_id"),
    )

    object: Mapped[str] = mapped_column(String(16), nullable=False)
    primary_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False)
    secondary_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JsonType, nullable=False)
    undone_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ErasedContact(TenantScoped, Base):
    """The anonymous tombstone an erased contact leaves: its id answers 410 from then on."""

    __tablename__ = "erased_contacts"


class Job(TenantScoped, Base):
    """An import, export or rescoring run, with the counts its status shows."""

    __tablename__ = "jobs"
    __table_args__ = (Index("jobs_tenant_kind_idx", "tenant_id", "kind", "created_at", "id"),)

    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # import | export | rescore
    object: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="queued", nullable=False)
    params: Mapped[dict[str, Any]] = mapped_column(JsonType, default=_empty_dict, nullable=False)
    rows_total: Mapped[int | None] = mapped_column(Integer)
    rows_processed: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    created: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    updated: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    skipped: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    failed: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid())


class JobError(TenantScoped, Base):
    """A row an import could not take, with the reason and the row as it came."""

    __tablename__ = "job_errors"
    __table_args__ = (Index("job_errors_job_idx", "tenant_id", "job_id", "row_number"),)

    job_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False)
    row_number: Mapped[int] = mapped_column(Integer, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    row: Mapped[dict[str, Any]] = mapped_column(JsonType, nullable=False)


class SavedView(TenantScoped, Base):
    """A user's own named view of the contacts or companies table: search, filter, sort, columns.

    Private to the user who saved it: every read and write is scoped to the caller's user id as
    well as the tenant (service/saved_views.py)."""

    __tablename__ = "saved_views"
    __table_args__ = (Index("saved_views_user_idx", "tenant_id", "user_id", "object", "created_at", "id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False)
    object: Mapped[str] = mapped_column(String(16), nullable=False)  # contacts | companies
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    q: Mapped[str | None] = mapped_column(String(500))
    filter: Mapped[str | None] = mapped_column(Text)
    sort: Mapped[str | None] = mapped_column(String(500))
    columns: Mapped[list[str]] = mapped_column(JsonType, default=_empty_list, nullable=False)


class ContactSettings(Base):
    """Per-tenant settings of this service (one row per tenant)."""

    __tablename__ = "contact_settings"

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    default_region: Mapped[str | None] = mapped_column(String(2))  # ISO 3166 alpha-2, for phone numbers
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


def job_tables(metadata: MetaData) -> tuple[Table, Table]:
    """Uploaded and produced files in chunks, and the queue the worker claims jobs from.

    Files live in the database so any web or worker replica can write or read them (no shared
    volume). The queue has no RLS: the worker claims across tenants, then works as that tenant.
    """
    if "job_files" in metadata.tables:
        return metadata.tables["job_files"], metadata.tables["job_queue"]
    files = Table(
        "job_files", metadata,
        Column("tenant_id", Uuid(), primary_key=True),
        Column("job_id", Uuid(), primary_key=True),
        Column("part", String(16), primary_key=True),  # upload | output
        Column("seq", Integer, primary_key=True),
        Column("data", LargeBinary, nullable=False),
    )
    queue = Table(
        "job_queue", metadata,
        Column("job_id", Uuid(), primary_key=True),
        Column("tenant_id", Uuid(), nullable=False),
        Column("kind", String(16), nullable=False),
        Column("available_at", DateTime(timezone=True), nullable=False, default=utcnow),
        Column("attempts", Integer, nullable=False, default=0),
    )
    return files, queue


def schedule_table(metadata: MetaData) -> Table:
    """Periodic per-tenant housekeeping (job file retention, score decay), due times only.

    No RLS, like job_queue: the worker finds due tenants before it knows which tenant to act as,
    then does the work inside that tenant's context. It holds tenant ids, task names and times."""
    if "job_schedule" in metadata.tables:
        return metadata.tables["job_schedule"]
    return Table(
        "job_schedule", metadata,
        Column("tenant_id", Uuid(), primary_key=True),
        Column("task", String(32), primary_key=True),  # purge_files | rescore_decay
        Column("due_at", DateTime(timezone=True), nullable=False),
    )


def metadata() -> MetaData:
    """The service's full metadata: its records plus outbox, processed events, idempotency keys, jobs."""
    event_tables(Base.metadata)
    idempotency_table(Base.metadata)
    job_tables(Base.metadata)
    schedule_table(Base.metadata)
    return Base.metadata
