"""What contacts and companies share: custom properties, tags, search text, merged ids that resolve."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from typing import Any, NoReturn, TypeVar

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from contacts import normalise
from contacts.models import Company, Contact, ErasedContact, Merge
from contacts.service.properties import check_values, prefetch_version
from contacts.service.scoring import prefetch_rules
from contacts.service.settings import default_region, prefetch_settings
from crm_core import context
from crm_core.errors import Conflict, Gone, NotFound
from crm_db.tenancy import Prefetch
from crm_events.records import RecordService

R = TypeVar("R", Contact, Company)
MAX_MERGE_HOPS = 20
_HOLDERS = "crm_unique_holders"  # session.info: (field, value) -> id of the record holding it, or None


@functools.cache
def _holder_sql(model: type, field: str) -> Any:
    table = model.__table__  # type: ignore[attr-defined]
    return select(table.c.id).where(table.c.tenant_id == bindparam("t"), table.c[field] == bindparam("v"))


class PartyService(RecordService[R]):
    """A contact or a company: the generic record rules plus the ones both share."""

    object_name: str  # "contact" | "company", as in /v1/properties/{object}s
    unique_field: str  # "email" | "domain": one record per tenant holds a value

    def unique_value(self, values: dict[str, Any]) -> Any:
        """The unique field's value as before_create / before_update will check it."""
        return values.get(self.unique_field)

    def prefetch(self, values: dict[str, Any]) -> Sequence[Prefetch]:
        """Everything a create or update reads besides the record itself, sent with BEGIN: who holds
        the unique value, the settings (phone region), the custom fields' version, the scoring rules."""
        found = [prefetch_settings(), prefetch_version(), prefetch_rules()]
        value = self.unique_value(values)
        if value:
            found.append(self._prefetch_holder(value))
        return found

    def _prefetch_holder(self, value: Any) -> Prefetch:
        field = self.unique_field

        def store(session: Session, rows: Sequence[Any]) -> None:
            session.info.setdefault(_HOLDERS, {})[(field, value)] = rows[0][0] if rows else None

        return Prefetch(_holder_sql(self.model, field), {"t": context.require_tenant(), "v": value}, store)

    def check_properties(self, session: Session, values: dict[str, Any], current: dict[str, Any] | None) -> None:
        if "properties" in values or current is None:
            values["properties"] = check_values(session, self.object_name, values.get("properties") or {}, current,
                                                default_region(session))

    search_columns: tuple[str, ...] = ()  # what `q=` matches, in this order

    def refresh_search_text(self, values: dict[str, Any], record: R | None = None) -> None:
        merged = {c: getattr(record, c) for c in self.search_columns} if record is not None else {}
        merged.update({k: v for k, v in values.items() if k in self.search_columns})
        parts: list[str | None] = []
        for column in self.search_columns:
            value = merged.get(column)
            parts.extend(value if isinstance(value, list) else [value])
        values["search_text"] = normalise.search_text(parts)

    def ensure_free(self, session: Session, field: str, value: Any, exclude: Any = None) -> None:
        """409 naming the record that already holds this unique value (email, domain)."""
        if not value:
            return
        holders = session.info.get(_HOLDERS) or {}
        if (field, value) in holders:  # read with BEGIN (prefetch); the value is unique, so one holder at most
            existing = holders[(field, value)]
            if existing is not None and exclude is not None and existing == exclude:
                existing = None
        else:
            column = getattr(self.model, field)
            stmt = select(self.model.id).where(column == value)
            if exclude is not None:
                stmt = stmt.where(self.model.id != exclude)
            existing = session.scalars(stmt).first()
        if existing is not None:
            raise Conflict(f"A {self.aggregate} with {field} {value!r} already exists.", existing_id=str(existing),
                           errors={field: [f"Already used by another {self.aggregate}."]})

    def get(self, session: Session, record_id: uuid.UUID, *, for_update: bool = False) -> R:
        """The record, or the one it was merged into (old links keep working); 410 once erased.

        `for_update` is how every write asks (RecordService.update and delete, erase, unmerge,
        merge): a write never follows a merge. It gets the row under exactly this id, locked, and
        an id merged away answers 409 naming `merged_into`: a PATCH or DELETE of the duplicate
        must not change or delete the record that survived it."""
        if for_update:
            return self.live(session, record_id, lock=True)
        current = record_id
        for _ in range(MAX_MERGE_HOPS):
            record = session.scalars(select(self.model).where(self.model.id == current)).first()
            if record is not None:
                return record
            survivor = self._survivor(session, current)
            if survivor is None:
                break
            current = survivor
        self._missing(session, record_id)

    def live(self, session: Session, record_id: uuid.UUID, *, lock: bool = False) -> R:
        """The record under exactly this id (for a write); 409 naming `merged_into` if it was merged away."""
        stmt = select(self.model).where(self.model.id == record_id)
        record = session.scalars(stmt.with_for_update() if lock else stmt).first()
        if record is not None:
            return record
        if self._survivor(session, record_id) is not None:
            survivor = self.get(session, record_id)
            raise Conflict(f"The {self.aggregate} {record_id} was merged into {survivor.id}; changes go to that "
                           f"{self.aggregate} (or unmerge it first).", merged_into=str(survivor.id),
                           errors={"id": [f"Merged into {survivor.id}."]})
        self._missing(session, record_id)

    def _survivor(self, session: Session, record_id: uuid.UUID) -> uuid.UUID | None:
        return session.scalars(
            select(Merge.primary_id).where(Merge.object == self.aggregate, Merge.secondary_id == record_id,
                                           Merge.undone_at.is_(None)).order_by(Merge.created_at.desc())
        ).first()

    def _missing(self, session: Session, record_id: uuid.UUID) -> NoReturn:
        if self.model is Contact and session.get(ErasedContact, (context.require_tenant(), record_id)) is not None:
            raise Gone(f"The contact {record_id} was erased.")
        raise NotFound(f"No {self.aggregate} with id {record_id}.")
