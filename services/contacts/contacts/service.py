"""Contact use cases: uniqueness of email per tenant on top of the generic record rules."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from contacts.models import Contact
from crm_core.errors import Conflict
from crm_events.records import RecordService


class ContactService(RecordService[Contact]):
    model = Contact
    aggregate = "contact"

    def _ensure_email_free(self, session: Session, email: str | None, exclude: Any = None) -> None:
        if not email:
            return
        stmt = select(Contact.id).where(Contact.email == email)
        if exclude is not None:
            stmt = stmt.where(Contact.id != exclude)
        existing = session.scalars(stmt).first()
        if existing is not None:
            raise Conflict(f"A contact with email {email!r} already exists.", existing_id=str(existing),
                           errors={"email": ["Already used by another contact."]})

    def before_create(self, session: Session, values: dict[str, Any]) -> None:
        self._ensure_email_free(session, values.get("email"))

    def before_update(self, session: Session, record: Contact, values: dict[str, Any]) -> None:
        if "email" in values and values["email"] != record.email:
            self._ensure_email_free(session, values["email"], exclude=record.id)
