"""Saved views: each belongs to the user who saved it. Reads, lists and writes are scoped to the
caller's user id on top of the tenant, so another user's view answers 404 like a missing one."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from contacts.models import SavedView
from contacts.service.fields import company_fields, contact_fields
from crm_core import context
from crm_core.errors import Conflict, Forbidden, NotFound, ProblemError, validation_error
from crm_events.records import RecordService
from crm_query import FieldRegistry, FieldType, column_field, compile_filter, parse_sort

EMPTY_TO_NONE = ("q", "filter", "sort")


def caller() -> uuid.UUID:
    """The signed-in user; an API key acts for no user and has no saved views."""
    principal = context.current_principal()
    if principal is None or principal.user_id is None:
        raise Forbidden("Saved views belong to a signed-in user; an API key has none.")
    return principal.user_id


def own_views(object_: str | None = None) -> Select[Any]:
    stmt = select(SavedView).where(SavedView.user_id == caller())
    return stmt if object_ is None else stmt.where(SavedView.object == object_)


def _registry(session: Session, object_: str) -> FieldRegistry:
    return contact_fields(session) if object_ == "contacts" else company_fields(session)


def check_query(session: Session, object_: str, values: dict[str, Any]) -> None:
    """The filter and sort must be ones the list of that object takes today (422 naming the field)."""
    registry = _registry(session, object_)
    for name, check in (("filter", lambda text: compile_filter(text, registry, session.get_bind().dialect.name)),
                        ("sort", lambda text: parse_sort(text, registry, "-created_at",
                                                         column_field("id", FieldType.UUID, SavedView.id)))):
        text = values.get(name)
        if not text:
            continue
        try:
            check(text)
        except ProblemError as exc:
            messages = (exc.errors or {}).get(name) or [exc.detail or f"Invalid {name}."]
            raise validation_error({name: messages}) from exc


class SavedViewService(RecordService[SavedView]):
    model = SavedView
    aggregate = "saved_view"

    def get(self, session: Session, record_id: uuid.UUID, *, for_update: bool = False) -> SavedView:
        stmt = own_views().where(SavedView.id == record_id)
        if for_update:
            stmt = stmt.with_for_update()
        found = session.scalars(stmt).first()
        if found is None:  # someone else's view is as unknown as a missing one
            raise NotFound(f"No saved view with id {record_id}.")
        return found

    def _normalise(self, values: dict[str, Any]) -> None:
        for name in EMPTY_TO_NONE:
            if name in values and not values[name]:
                values[name] = None

    def _name_free(self, session: Session, object_: str, name: str, exclude: uuid.UUID | None = None) -> None:
        stmt = own_views(object_).where(SavedView.name == name)
        if exclude is not None:
            stmt = stmt.where(SavedView.id != exclude)
        existing = session.scalars(stmt.with_only_columns(SavedView.id)).first()
        if existing is not None:
            raise Conflict(f"You already have a view of {object_} named {name!r}.", existing_id=str(existing),
                           errors={"name": ["You already have a view with this name."]})

    def before_create(self, session: Session, values: dict[str, Any]) -> None:
        values["user_id"] = caller()
        values.setdefault("columns", [])
        self._normalise(values)
        check_query(session, values["object"], values)
        self._name_free(session, values["object"], values["name"])

    def before_update(self, session: Session, record: SavedView, values: dict[str, Any]) -> None:
        self._normalise(values)
        check_query(session, record.object, values)
        if values.get("name") and values["name"] != record.name:
            self._name_free(session, record.object, values["name"], exclude=record.id)
