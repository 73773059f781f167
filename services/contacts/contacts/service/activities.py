"""Timeline use cases: notes, calls, emails and meetings on contacts and companies, and the
`last_contacted_at` they drive.

A contact's timeline is its activities. A company's timeline is the activities posted on it plus
those of every contact linked to it (Contact.company_ids), so an activity posted on a contact shows
on all of that contact's companies, and `last_contacted_at` is kept on each of them.

Other code reacts to activity changes through ACTIVITY_LISTENERS: callables
`(session, outbox, contact_id)` run in the writing transaction after last_contacted_at is
recomputed (lead scoring appends one). Call `on_activity_changed` after moving activities in bulk.

Locks are taken in one order everywhere (contact, then its companies by id, then activities) so
concurrent writes on one timeline queue up instead of deadlocking.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, func, select, true, union_all
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import type_coerce

from contacts.models import Activity, Company, Contact, DealRef
from contacts.schemas.activities import ActivitySchema, as_utc, type_errors
from contacts.schemas.companies import CompanySchema
from contacts.schemas.contacts import ContactSchema
from contacts.service import meetings
from contacts.service.companies import CompanyService
from contacts.service.contacts import ContactService
from contacts.service.deal_refs import deal_for_field
from crm_core import context
from crm_core.errors import Gone, NotFound, validation_error
from crm_db.base import utcnow
from crm_events.outbox import Outbox
from crm_events.records import RecordService
from crm_http.pagination import SortKey, paginate

COUNTED_TYPES = ("call", "email", "meeting")  # talking to the customer; a note is not
EDITABLE = ("occurred_at", "subject", "body", "direction", "duration_seconds", "outcome", "starts_at", "ends_at",
            "attendees", "location", "time_zone", "send_invitations", "cancelled", "deal_id")
Parent = Contact | Company | DealRef

Listener = Callable[[Session, Outbox, uuid.UUID], None]
ACTIVITY_LISTENERS: list[Listener] = []
P = TypeVar("P", Contact, Company, Activity, DealRef)


def on_activity_changed(session: Session, outbox: Outbox, contact_id: uuid.UUID) -> None:
    for listener in tuple(ACTIVITY_LISTENERS):
        listener(session, outbox, contact_id)


@functools.lru_cache(maxsize=16)
def party_services(outbox: Outbox) -> tuple[ContactService, CompanyService]:
    """The services whose updates emit crm.contact.updated / crm.company.updated; built on first
    use per outbox, never at import."""
    return ContactService(outbox, ContactSchema().dump), CompanyService(outbox, CompanySchema().dump)


def _lock(session: Session, model: type[P], record_id: uuid.UUID) -> P | None:
    """Lock the row and re-read it: an object loaded earlier in this transaction may be stale."""
    stmt = select(model).where(model.id == record_id).with_for_update().execution_options(populate_existing=True)
    return session.scalars(stmt).first()


def linked_contacts(session: Session, company_id: uuid.UUID) -> Select[Any]:
    """Ids of the contacts linked to a company (core JSON operators, so tenant scoped by hand)."""
    stmt = select(Contact.id).where(Contact.tenant_id == context.require_tenant())
    if session.get_bind().dialect.name == "postgresql":
        # jsonb @> served by the GIN index contacts_company_ids_gin (tenant_id, company_ids).
        return stmt.where(type_coerce(Contact.company_ids, JSONB()).contains([str(company_id)]))
    links = func.json_each(Contact.company_ids).table_valued("value")
    return stmt.join(links, true()).where(links.c.value == str(company_id))


def company_scope(session: Session, company_id: uuid.UUID) -> ColumnElement[bool]:
    """A company's timeline as a condition on Activity. A union of two index-served id lists
    (company timeline index; contact timeline index per linked contact) rather than an OR, which
    would scan the tenant's whole activity table."""
    tenant = context.require_tenant()
    on_company = select(Activity.id).where(Activity.tenant_id == tenant, Activity.company_id == company_id)
    of_contacts = select(Activity.id).where(Activity.tenant_id == tenant,
                                            Activity.contact_id.in_(linked_contacts(session, company_id)))
    return Activity.id.in_(union_all(on_company, of_contacts))


def _latest(session: Session, scope: ColumnElement[bool]) -> Any:
    """The last time we talked: newest call/email/meeting that is not in the future."""
    stmt = select(func.max(Activity.occurred_at)).where(scope, Activity.type.in_(COUNTED_TYPES),
                                                        Activity.occurred_at <= utcnow())
    return as_utc(session.scalar(stmt))


def refresh_company_last_contacted(session: Session, outbox: Outbox, company_id: uuid.UUID) -> None:
    company = _lock(session, Company, company_id)
    if company is None:
        return  # deleted meanwhile (or another tenant's id): nothing to keep up to date
    latest = _latest(session, company_scope(session, company.id))
    if as_utc(company.last_contacted_at) != latest:
        party_services(outbox)[1].update(session, company.id, {"last_contacted_at": latest})


def refresh_last_contacted(session: Session, outbox: Outbox, contact_id: uuid.UUID,
                           companies: Iterable[uuid.UUID | None] = ()) -> None:
    """Recompute last_contacted_at of a contact (a merged id resolves to its survivor) and of its
    companies plus `companies`; each that changes emits crm.<contact|company>.updated with
    `changes: {"last_contacted_at": [old, new]}` and gets a new version."""
    contacts = party_services(outbox)[0]
    company_ids = {c for c in companies if c is not None}
    try:
        found = contacts.get(session, contact_id)
    except (NotFound, Gone):
        found = None
    contact = _lock(session, Contact, found.id) if found is not None else None
    if contact is not None:
        company_ids.update(uuid.UUID(str(c)) for c in contact.company_ids or ())
        latest = _latest(session, Activity.contact_id == contact.id)
        if as_utc(contact.last_contacted_at) != latest:
            contacts.update(session, contact.id, {"last_contacted_at": latest})
    for company_id in sorted(company_ids):
        refresh_company_last_contacted(session, outbox, company_id)


class ActivityService(RecordService[Activity]):
    model = Activity
    aggregate = "activity"

    # --- reading -----------------------------------------------------------------------------
    def scope(self, session: Session, parent: Parent) -> ColumnElement[bool]:
        if isinstance(parent, Contact):
            return Activity.contact_id == parent.id
        if isinstance(parent, DealRef):
            return Activity.deal_id == parent.id
        return company_scope(session, parent.id)

    def find(self, session: Session, parent: Parent, activity_id: uuid.UUID) -> Activity:
        """An activity on this parent's timeline; anything else (another timeline, another tenant) is 404."""
        found = session.scalars(select(Activity).where(Activity.id == activity_id, self.scope(session, parent))).first()
        if found is None:
            raise NotFound(f"No activity with id {activity_id} on this timeline.")
        return found

    def timeline(self, session: Session, parent: Parent, types: list[str], keys: list[SortKey],
                 limit: int, cursor: str | None, *, thread_id: uuid.UUID | None = None) -> tuple[list[Activity], str | None]:
        stmt = select(Activity).where(self.scope(session, parent))
        if types:
            stmt = stmt.where(Activity.type.in_(types))
        if thread_id is not None:
            stmt = stmt.where(Activity.thread_id == thread_id)
        return paginate(session, stmt, keys, limit, cursor)

    # --- writing -----------------------------------------------------------------------------
    def _lock_parents(self, session: Session, contact_id: uuid.UUID | None, company_ids: set[uuid.UUID | None]) -> None:
        if contact_id is not None:
            contact = _lock(session, Contact, contact_id)
            if contact is not None:
                company_ids.update(uuid.UUID(str(c)) for c in contact.company_ids or ())
        for company_id in sorted(c for c in company_ids if c is not None):
            _lock(session, Company, company_id)

    def _changed(self, session: Session, contact_id: uuid.UUID | None, company_id: uuid.UUID | None) -> None:
        if contact_id is None:
            if company_id is not None:
                refresh_company_last_contacted(session, self.outbox, company_id)
            return
        refresh_last_contacted(session, self.outbox, contact_id, [company_id])
        on_activity_changed(session, self.outbox, contact_id)

    def _deal_contact(self, session: Session, contact_id: uuid.UUID) -> Contact:
        contact = session.scalars(select(Contact).where(Contact.id == contact_id)).first()
        if contact is None:  # merged-away and erased contacts have no row
            raise validation_error({"contact_id": [f"No contact with id {contact_id}."]})
        return contact

    def add(self, session: Session, parent: Parent, values: dict[str, Any]) -> Activity:
        """Post on a contact (the activity also lands on its primary company), on a company, or on
        a deal (and, with `contact_id`, on that contact's and its company's timelines too)."""
        contact_id = values.pop("contact_id", None)
        if contact_id is not None and not isinstance(parent, DealRef):
            raise validation_error({"contact_id": ["Given by the URL; name a contact when posting on a deal."]})
        if isinstance(parent, DealRef):
            values["deal_id"] = parent.id
            if contact_id is not None:
                parent = self._deal_contact(session, contact_id)  # then posted as on the contact
        elif values.get("deal_id") is not None:
            deal_for_field(session, values["deal_id"])
        if values["type"] == "meeting" and values.get("starts_at") is not None:
            values.setdefault("occurred_at", values["starts_at"])
        values.setdefault("occurred_at", utcnow())
        principal = context.current_principal()
        values["author_id"] = principal.user_id if principal is not None else None  # None for API keys
        if isinstance(parent, Contact):
            self._lock_parents(session, parent.id, {parent.company_id})  # re-reads the contact
            values["contact_id"], values["company_id"] = parent.id, parent.company_id
        elif isinstance(parent, DealRef):
            values["contact_id"], values["company_id"] = None, None
        else:
            self._lock_parents(session, None, {parent.id})
            values["contact_id"], values["company_id"] = None, parent.id
        if values["type"] == "meeting":
            meetings.prepare(values, None)
        record = self.create(session, values)
        self._changed(session, record.contact_id, record.company_id)
        meetings.after_create(session, self.outbox, record)
        return record

    def before_update(self, session: Session, record: Activity, values: dict[str, Any]) -> None:
        if "type" in values and values["type"] != record.type:
            raise validation_error({"type": ["The type of an activity cannot change; delete it and post another."]})
        values.pop("type", None)
        if "contact_id" in values:
            raise validation_error({"contact_id": ["An activity cannot move to another contact; delete it and post another."]})
        if values.get("deal_id") is not None and values["deal_id"] != record.deal_id:
            deal_for_field(session, values["deal_id"])
        given = list(values)
        if (record.type == "meeting" and values.get("starts_at") is not None and "occurred_at" not in values
                and as_utc(record.occurred_at) == as_utc(record.starts_at)):
            values["occurred_at"] = values["starts_at"]  # a rescheduled meeting moves on the timeline too
        merged = {name: getattr(record, name) for name in EDITABLE} | values
        errors = type_errors(record.type, given, merged)
        if errors:
            raise validation_error(errors)
        if record.type == "meeting":
            meetings.prepare(values, record)

    def _relock(self, session: Session, record: Activity) -> Activity:
        """After the parents (lock order), lock the activity itself and re-read its version."""
        found = _lock(session, Activity, record.id)
        if found is None:
            raise NotFound(f"No activity with id {record.id} on this timeline.")
        return found

    def change(self, session: Session, record: Activity, values: dict[str, Any], expected: int | None) -> Activity:
        self._lock_parents(session, record.contact_id, {record.company_id})
        record = self._relock(session, record)
        version, before = record.version, meetings.snapshot(record)
        updated = self.update(session, record.id, values, expected)
        if updated.version != version:
            self._changed(session, updated.contact_id, updated.company_id)
            meetings.after_change(session, self.outbox, before, updated)
        return updated

    def remove(self, session: Session, record: Activity, expected: int | None) -> None:
        contact_id, company_id = record.contact_id, record.company_id
        self._lock_parents(session, contact_id, {company_id})
        found = self._relock(session, record)
        self.check_version(found, expected)
        meetings.before_delete(session, self.outbox, found)
        self.delete(session, record.id, None)
        self._changed(session, contact_id, company_id)


@functools.lru_cache(maxsize=16)
def activity_service(outbox: Outbox) -> ActivityService:
    return ActivityService(outbox, ActivitySchema().dump)


def delete_contact_timeline(session: Session, outbox: Outbox, contact: Contact) -> None:
    """Deleting a contact deletes its timeline: the activities are about that person and have no
    other owner. Each emits crm.activity.deleted; the companies that showed them are recomputed.
    An activity that is also on a deal stays on the deal (contact_id and company_id -> null,
    crm.activity.updated): the deal's history must not vanish with a person record. Erasure
    (service/privacy.py) deletes those too."""
    service = activity_service(outbox)
    company_ids = {uuid.UUID(str(c)) for c in contact.company_ids or ()}
    company_ids.update(session.scalars(select(Activity.company_id).distinct().where(
        Activity.contact_id == contact.id, Activity.company_id.is_not(None))))
    for company_id in sorted(company_ids):
        _lock(session, Company, company_id)
    for row in session.scalars(select(Activity).where(Activity.contact_id == contact.id).with_for_update()).all():
        data = service.serialize(row)
        if row.deal_id is not None:
            row.contact_id, row.company_id = None, None
            session.flush()
            outbox.emit(session, "crm.activity.updated", row.id, service.body(session, row),
                        changes={"contact_id": [data.get("contact_id"), None], "company_id": [data.get("company_id"), None]})
            continue
        session.delete(row)
        outbox.emit(session, "crm.activity.deleted", row.id, data)
    session.flush()
    for company_id in sorted(company_ids):
        refresh_company_last_contacted(session, outbox, company_id)


def detach_company_timeline(session: Session, outbox: Outbox, company: Company) -> None:
    """Deleting a company deletes the activities posted on the company alone, and unlinks (company_id
    -> null, crm.activity.updated) those of its contacts: they stay on the person's timeline, whose
    history must not vanish with an account record."""
    service = activity_service(outbox)
    rows = session.scalars(select(Activity).where(Activity.company_id == company.id).with_for_update()).all()
    for row in rows:
        before = service.serialize(row)
        if row.contact_id is None:
            session.delete(row)
            session.flush()
            outbox.emit(session, "crm.activity.deleted", row.id, before)
            continue
        row.company_id = None
        session.flush()
        outbox.emit(session, "crm.activity.updated", row.id, service.body(session, row),
                    changes={"company_id": [before.get("company_id"), None]})
