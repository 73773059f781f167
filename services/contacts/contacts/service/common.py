"""What contacts and companies share: custom properties, tags, search text, merged ids that resolve."""

from __future__ import annotations

import uuid
from typing import Any, NoReturn, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from contacts import normalise
from contacts.models import Company, Contact, ErasedContact, Merge
from contacts.service.properties import check_values
from contacts.service.settings import default_region
from crm_core import context
from crm_core.errors import Conflict, Gone, NotFound
from crm_events.records import RecordService

R = TypeVar("R", Contact, Company)
MAX_MERGE_HOPS = 20


class PartyService(RecordService[R]):
    """A contact or a company: the generic record rules plus the ones both share."""

    object_name: str  # "contact" | "company", as in /v1/properties/{object}s

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
