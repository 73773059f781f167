"""Merging a duplicate (the secondary) into the record that survives (the primary), and undoing it.

The primary keeps its values and takes the secondary's where its own are empty, except for the
fields the request names in `keep_from_secondary`, which take the secondary's value whatever the
primary has (the user chose it field by field); lists are unioned; what hangs off the secondary
(activities, and for companies the linked contacts) moves over. The secondary row is deleted, so
its unique email/domain becomes free, and a `Merge` row keeps what it takes to undo the merge for
30 days: the secondary's full row, the primary's values before and after of every field the merge
changed, and what moved. Old ids keep resolving through the `Merge` rows (PartyService.get).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

from sqlalchemy import DateTime, Uuid, insert, inspect, or_, select
from sqlalchemy.orm import Session

from contacts.models import Activity, Company, Contact, Merge
from contacts.schemas.activities import ActivitySchema
from contacts.service.activities import linked_contacts, on_activity_changed
from contacts.service.common import PartyService
from contacts.service.companies import CompanyService
from contacts.service.contacts import ContactService
from crm_core import context
from crm_core.errors import Conflict, validation_error
from crm_db.base import utcnow
from crm_events.outbox import Outbox

R = TypeVar("R", Contact, Company)
UNDO_WINDOW = dt.timedelta(days=30)
CHUNK = 500  # ids per IN (...) list: far below SQLite's and PostgreSQL's parameter limits


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; they are UTC.
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _json(value: Any) -> Any:
    """A column value as the snapshot stores it (and compares it): JSON-safe and canonical."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return _utc(value).isoformat()
    return value


def _from_json(model: type[Any], field: str, value: Any) -> Any:
    if value is None:
        return None
    column_type = inspect(model).columns[field].type
    if isinstance(column_type, Uuid):
        return uuid.UUID(value)
    if isinstance(column_type, DateTime):
        return dt.datetime.fromisoformat(value)
    return value


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _union(*lists: Iterable[Any] | None) -> list[Any]:
    return list(dict.fromkeys(str(v) if isinstance(v, uuid.UUID) else v for items in lists for v in (items or [])))


def _chunks(ids: list[str]) -> Iterable[list[uuid.UUID]]:
    for start in range(0, len(ids), CHUNK):
        yield [uuid.UUID(i) for i in ids[start:start + CHUNK]]


def apply_values(session: Session, service: PartyService[Any], record: Any, values: dict[str, Any]) -> dict[str, list[Any]]:
    """RecordService.update without its input checks: every value here already passed them on the
    record it came from, and re-checking (required custom fields, links to since-deleted companies)
    would make a merge or its undo fail for data the API accepted."""
    before = service.serialize(record)
    service.refresh_search_text(values, record)
    for field, value in values.items():
        setattr(record, field, value)
    session.flush()
    after = service.body(session, record)
    changes = {k: [before.get(k), after.get(k)] for k in after
               if before.get(k) != after.get(k) and k not in ("updated_at", "version")}
    if changes:
        service.outbox.emit(session, f"crm.{service.aggregate}.updated", record.id, after, changes=changes)
    return changes


def move_activities(session: Session, outbox: Outbox, field: str, source: uuid.UUID, target: uuid.UUID,
                    ids: list[str] | None = None) -> list[str]:
    """Point `field` (contact_id or company_id) of the activities that name `source` at `target`:
    all of them, or those of `ids` still there (on unmerge: not the ones moved elsewhere since).
    Each emits crm.activity.updated, so timeline projections follow."""
    column = getattr(Activity, field)
    if ids is None:
        moving = list(session.scalars(select(Activity).where(column == source)))
    else:
        moving = [a for chunk in _chunks(ids)
                  for a in session.scalars(select(Activity).where(Activity.id.in_(chunk), column == source))]
    for activity in moving:
        setattr(activity, field, target)
    session.flush()
    serialize = ActivitySchema().dump
    for activity in moving:
        outbox.emit(session, "crm.activity.updated", activity.id, serialize(activity),
                    changes={field: [str(source), str(target)]})
    return [str(a.id) for a in moving]


PROPERTY_PREFIX = "properties."


class Merger(Generic[R]):
    fill_fields: tuple[str, ...] = ()  # the primary takes the secondary's value where its own is empty
    union_fields: tuple[str, ...] = ()  # lists: the primary's items, then the secondary's new ones
    chosen_only_fields: tuple[str, ...] = ()  # never filled (never empty), but the user may take the secondary's

    def choosable(self) -> tuple[str, ...]:
        """What `keep_from_secondary` may name, besides `properties.<key>`."""
        return self.fill_fields + self.chosen_only_fields

    def check_choice(self, keep_from_secondary: Iterable[str]) -> frozenset[str]:
        allowed = self.choosable()
        unknown = [f for f in keep_from_secondary
                   if f not in allowed and not (f.startswith(PROPERTY_PREFIX) and len(f) > len(PROPERTY_PREFIX))]
        if unknown:
            raise validation_error({"keep_from_secondary": [
                f"Not a field a merge can take from the secondary: {', '.join(unknown)} (use {', '.join(allowed)} "
                f"or {PROPERTY_PREFIX}<key>)."]})
        return frozenset(keep_from_secondary)

    def __init__(self, service: PartyService[R]) -> None:
        self.service = service
        self.model = service.model
        self.aggregate = service.aggregate

    # hooks for what hangs off a record
    def move_related(self, session: Session, primary: R, secondary: R) -> dict[str, Any]:
        return {}

    def restore_related(self, session: Session, primary: R, secondary: R, snapshot: dict[str, Any]) -> None: ...

    def check_restorable(self, session: Session, row: dict[str, Any]) -> None: ...

    def settled(self, session: Session, *records: R) -> None:
        """Runs last in a merge or unmerge, on the records that remain."""

    def combine(self, primary: R, secondary: R, chosen: frozenset[str] = frozenset()) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field in self.choosable():
            mine, theirs = getattr(primary, field), getattr(secondary, field)
            if field in chosen:
                if mine != theirs:
                    values[field] = theirs
            elif field in self.fill_fields and _empty(mine) and not _empty(theirs):
                values[field] = theirs
        for field in self.union_fields:
            merged = _union(getattr(primary, field), getattr(secondary, field))
            if merged != list(getattr(primary, field) or []):
                values[field] = merged
        properties = dict(primary.properties or {})
        for key, value in (secondary.properties or {}).items():
            if _empty(properties.get(key)) and not _empty(value):
                properties[key] = value
        for name in chosen:
            if name.startswith(PROPERTY_PREFIX):
                key = name.removeprefix(PROPERTY_PREFIX)
                theirs = (secondary.properties or {}).get(key)
                if _empty(theirs):
                    properties.pop(key, None)
                else:
                    properties[key] = theirs
        if properties != (primary.properties or {}):
            values["properties"] = properties
        mine, theirs = primary.last_contacted_at, secondary.last_contacted_at
        if theirs is not None and (mine is None or _utc(theirs) > _utc(mine)):
            values["last_contacted_at"] = theirs
        return values

    def _pair(self, session: Session, primary_id: uuid.UUID, secondary_id: uuid.UUID) -> tuple[R, R]:
        """Both records under exactly these ids (an id merged away is 409 naming `merged_into`: the
        merge would act on its survivor), row-locked in id order (no deadlock when two requests
        merge the same pair the other way round)."""
        primary, secondary = self.service.live(session, primary_id), self.service.live(session, secondary_id)
        if primary.id == secondary.id:
            raise validation_error({"secondary_id": [f"Is already the same {self.aggregate} as primary_id."]})
        for record_id in sorted((primary.id, secondary.id)):
            locked = session.scalars(select(self.model).where(self.model.id == record_id).with_for_update()
                                     .execution_options(populate_existing=True)).first()
            if locked is None:
                raise Conflict(f"The {self.aggregate} {record_id} changed while merging; try again.")
        return primary, secondary

    def merge(self, session: Session, primary_id: uuid.UUID, secondary_id: uuid.UUID,
              keep_from_secondary: Iterable[str] = ()) -> R:
        chosen = self.check_choice(keep_from_secondary)
        primary, secondary = self._pair(session, primary_id, secondary_id)
        values = self.combine(primary, secondary, chosen)
        before = {field: _json(getattr(primary, field)) for field in values}
        added_ids = _union([secondary.id], secondary.merged_ids)
        snapshot: dict[str, Any] = {"secondary": {c.key: _json(getattr(secondary, c.key)) for c in inspect(self.model).column_attrs},
                                    "before": before, "merged_ids": added_ids}
        snapshot.update(self.move_related(session, primary, secondary))
        # Deleted first: the primary may take over its unique email or domain.
        gone = self.service.serialize(secondary)
        session.delete(secondary)
        session.flush()
        self.service.outbox.emit(session, f"crm.{self.aggregate}.deleted", secondary.id,
                                 {**gone, "merged_into": str(primary.id)})
        values["merged_ids"] = _union(primary.merged_ids, added_ids)
        apply_values(session, self.service, primary, values)
        snapshot["after"] = {field: _json(getattr(primary, field)) for field in before}
        session.add(Merge(object=self.aggregate, primary_id=primary.id, secondary_id=secondary.id, snapshot=snapshot))
        session.flush()
        self.service.outbox.emit(session, f"crm.{self.aggregate}.merged", primary.id, {
            "primary_id": str(primary.id), "secondary_id": str(secondary.id),
            "primary": self.service.body(session, primary)})
        self.settled(session, primary)
        return primary

    def unmerge(self, session: Session, record_id: uuid.UUID, merged_id: uuid.UUID) -> tuple[R, R]:
        primary = self.service.get(session, record_id, for_update=True)
        merge = session.scalars(select(Merge).where(
            Merge.object == self.aggregate, Merge.secondary_id == merged_id, Merge.undone_at.is_(None),
        ).order_by(Merge.created_at.desc()).limit(1)).first()
        if merge is not None and merge.primary_id != primary.id and str(merged_id) in primary.merged_ids:
            raise Conflict(f"{merged_id} was merged into {merge.primary_id}, which was merged into this {self.aggregate} "
                           f"later: unmerge {merge.primary_id} first.", errors={"merged_id": ["Merged through another record."]})
        if merge is None or merge.primary_id != primary.id:
            raise validation_error({"merged_id": [f"Not merged into this {self.aggregate} (or already unmerged)."]})
        merged_at = _utc(merge.created_at)
        if utcnow() - merged_at > UNDO_WINDOW:
            raise Conflict(f"Merged on {merged_at:%Y-%m-%d}: a merge can be undone within {UNDO_WINDOW.days} days only.",
                           errors={"merged_id": ["The undo window has passed."]})
        snapshot = merge.snapshot
        # Fields edited since the merge keep the edit; the rest go back to what the primary had.
        values = {field: _from_json(self.model, field, old) for field, old in snapshot["before"].items()
                  if _json(getattr(primary, field)) == snapshot["after"].get(field)}
        values["merged_ids"] = [i for i in primary.merged_ids if i not in set(snapshot["merged_ids"])]
        apply_values(session, self.service, primary, values)
        secondary = self._reinsert(session, snapshot["secondary"])
        self.restore_related(session, primary, secondary, snapshot)
        merge.undone_at = utcnow()
        body = self.service.body(session, secondary)
        self.service.outbox.emit(session, f"crm.{self.aggregate}.created", secondary.id, body)
        self.service.outbox.emit(session, f"crm.{self.aggregate}.unmerged", primary.id, {
            "primary_id": str(primary.id), "secondary_id": str(secondary.id),
            "primary": self.service.body(session, primary), "secondary": body})
        self.settled(session, primary, secondary)
        return primary, secondary

    def _reinsert(self, session: Session, row: dict[str, Any]) -> R:
        """The secondary again, under its own id, with its values; a new version for its ETag."""
        values = {field: _from_json(self.model, field, value) for field, value in row.items()}
        self.check_restorable(session, values)
        values.update(tenant_id=context.require_tenant(), version=values["version"] + 1, updated_at=utcnow())
        # Core insert: the ORM would reset `version` to 1 on insert.
        session.connection().execute(insert(self.model.__table__), values)
        return self.service.get(session, values["id"])


class ContactMerger(Merger[Contact]):
    fill_fields = ("first_name", "last_name", "email", "phone", "company_name", "company_id", "owner_id",
                   "lifecycle_stage", "lead_status", "source", "address")
    union_fields = ("tags", "company_ids")

    def combine(self, primary: Contact, secondary: Contact, chosen: frozenset[str] = frozenset()) -> dict[str, Any]:
        values = super().combine(primary, secondary, chosen)
        email = values.get("email", primary.email)
        # Neither address is lost: the one that is not the primary email becomes an additional one
        # (the primary's own, when the user chose the secondary's).
        emails = [e for e in _union(primary.emails, [primary.email] if primary.email else [],
                                    [secondary.email] if secondary.email else [], secondary.emails)
                  if e != email]
        if emails != list(primary.emails or []):
            values["emails"] = emails
        company_id = values.get("company_id")
        if company_id is not None:  # the primary company is always one of the links
            links = values.get("company_ids", list(primary.company_ids or []))
            values["company_ids"] = _union(links, [company_id])
        return values

    def move_related(self, session: Session, primary: Contact, secondary: Contact) -> dict[str, Any]:
        return {"activity_ids": move_activities(session, self.service.outbox, "contact_id", secondary.id, primary.id)}

    def restore_related(self, session: Session, primary: Contact, secondary: Contact, snapshot: dict[str, Any]) -> None:
        move_activities(session, self.service.outbox, "contact_id", primary.id, secondary.id, snapshot["activity_ids"])

    def check_restorable(self, session: Session, row: dict[str, Any]) -> None:
        assert isinstance(self.service, ContactService)
        self.service.ensure_email_free(session, row.get("email"))

    def settled(self, session: Session, *records: Contact) -> None:
        # Activities moved in bulk: listeners (lead scoring) recompute what depends on them.
        for record in records:
            on_activity_changed(session, self.service.outbox, record.id)


class CompanyMerger(Merger[Company]):
    fill_fields = ("domain", "industry", "size", "owner_id")
    union_fields = ("tags",)
    chosen_only_fields = ("name",)

    def __init__(self, service: CompanyService, contacts: ContactService) -> None:
        super().__init__(service)
        self.contacts = contacts

    def move_related(self, session: Session, primary: Company, secondary: Company) -> dict[str, Any]:
        activity_ids = move_activities(session, self.service.outbox, "company_id", secondary.id, primary.id)
        moved: dict[str, dict[str, Any]] = {}
        linked = select(Contact).where(or_(Contact.company_id == secondary.id,
                                           Contact.id.in_(linked_contacts(session, secondary.id))))
        for contact in session.scalars(linked):
            values: dict[str, Any] = {}
            if contact.company_id == secondary.id:
                values["company_id"] = primary.id
                if (contact.company_name or "").casefold() == secondary.name.casefold():
                    values["company_name"] = primary.name  # it named the company that is going away
            links = _union(str(primary.id) if i == str(secondary.id) else i for i in contact.company_ids or [])
            if links != list(contact.company_ids or []):
                values["company_ids"] = links
            if not values:
                continue
            before = {field: _json(getattr(contact, field)) for field in values}
            apply_values(session, self.contacts, contact, values)
            moved[str(contact.id)] = {"before": before, "after": {f: _json(getattr(contact, f)) for f in before}}
        return {"activity_ids": activity_ids, "contacts": moved}

    def restore_related(self, session: Session, primary: Company, secondary: Company, snapshot: dict[str, Any]) -> None:
        move_activities(session, self.service.outbox, "company_id", primary.id, secondary.id, snapshot["activity_ids"])
        moved: dict[str, dict[str, Any]] = snapshot.get("contacts", {})
        for chunk in _chunks(sorted(moved)):
            # Contacts deleted or merged away since then have nothing to restore.
            for contact in session.scalars(select(Contact).where(Contact.id.in_(chunk))):
                change = moved[str(contact.id)]
                values = {field: _from_json(Contact, field, old) for field, old in change["before"].items()
                          if _json(getattr(contact, field)) == change["after"].get(field)}
                if values:
                    apply_values(session, self.contacts, contact, values)

    def check_restorable(self, session: Session, row: dict[str, Any]) -> None:
        domain = row.get("domain")
        existing = session.scalars(select(Company.id).where(Company.domain == domain)).first() if domain else None
        if existing is not None:
            raise Conflict(f"A company with domain {domain!r} exists again, so the merged one cannot come back.",
                           existing_id=str(existing), errors={"domain": ["Already used by another company."]})
