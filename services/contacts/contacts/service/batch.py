"""Batch create / update / upsert / delete of contacts or companies: each item through the record service
(so validation, normalisation, custom fields and events are those of a single call), each in its
own SAVEPOINT, so one bad item is reported and the others still commit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from marshmallow import Schema
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from contacts.models import Company, Contact
from contacts.service.common import PartyService
from contacts.service.companies import normalised_domain
from crm_core.errors import NotFound, ProblemError, validation_error
from crm_http.parsing import load

MAX_ITEMS = 100
MODES = ("create", "update", "upsert", "delete")


def result(status: int, record_id: Any = None, errors: dict[str, list[str]] | None = None,
           **extra: Any) -> dict[str, Any]:
    return {"status": status, "id": str(record_id) if record_id is not None else None, "errors": errors, **extra}


@dataclass
class BatchService:
    service: PartyService[Any]
    create_schema: Schema
    update_schema: Schema

    def apply(self, session: Session, mode: str, items: list[Any]) -> list[dict[str, Any]]:
        """One result per item, in input order."""
        return [self._one(session, mode, item) for item in items]

    def _one(self, session: Session, mode: str, item: Any) -> dict[str, Any]:
        if not isinstance(item, dict):
            return result(422, errors={"_body": ["Expected a JSON object."]})
        item = dict(item)
        target: uuid.UUID | None = None
        try:
            if mode == "delete":
                target, expected = self._target(item)
                if item:
                    return result(422, target, {k: ["A delete item carries only id and version."] for k in item})
                with session.begin_nested():
                    self.service.delete(session, target, expected)
                return result(204, target)
            if mode == "update":
                target, expected = self._target(item)
                values = load(self.update_schema, item, partial=True)
                with session.begin_nested():
                    return result(200, self.service.update(session, target, values, expected).id)
            values = load(self.create_schema, item)
            if mode == "upsert":
                target = self._match(session, values)
            with session.begin_nested():
                if target is not None:
                    return result(200, self.service.update(session, target, values).id)
                return result(201, self.service.create(session, values).id)
        except ProblemError as exc:
            extra = {k: exc.extra[k] for k in ("existing_id", "merged_into") if k in exc.extra}
            return result(exc.status, target, exc.errors or {"_body": [str(exc.detail or exc.title)]}, **extra)
        except IntegrityError:
            # A concurrent request took the email/domain after our check: the same answer a single call gives.
            return result(409, target, {"_body": ["The item conflicts with another record written concurrently."]})

    def _target(self, item: dict[str, Any]) -> tuple[uuid.UUID, int | None]:
        """The id (and optional version, like If-Match) an update item names; both leave the item."""
        raw_id, version = item.pop("id", None), item.pop("version", None)
        if raw_id is None:
            raise validation_error({"id": ["Required: the id of the record to update."]})
        try:
            record_id = uuid.UUID(str(raw_id))
        except ValueError:
            raise NotFound(f"No {self.service.aggregate} with id {raw_id!r}.") from None
        if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
            raise validation_error({"version": ["Must be a positive integer (the version you last read)."]})
        return record_id, version

    def _match(self, session: Session, values: dict[str, Any]) -> uuid.UUID | None:
        """Upsert: the record with the item's email (contacts) or normalised domain (companies)."""
        model = self.service.model
        if model is Contact:
            return session.scalars(select(Contact.id).where(Contact.email == values["email"])).first() \
                if values.get("email") else None
        if values.get("domain"):
            values["domain"] = normalised_domain(values["domain"])
            return session.scalars(select(Company.id).where(Company.domain == values["domain"])).first()
        return None
