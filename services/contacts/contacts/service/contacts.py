"""Contact use cases: unique email per tenant, E.164 phones, company links, custom properties."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from contacts import normalise
from contacts.models import Company, Contact
from contacts.service.common import PartyService
from contacts.service.scoring import rescore, rules
from contacts.service.settings import default_region
from crm_core.errors import validation_error
from crm_db.tenancy import Prefetch

EMAIL_FIELDS = ("email", "emails")


class ContactService(PartyService[Contact]):
    model = Contact
    aggregate = "contact"
    object_name = "contact"
    unique_field = "email"
    search_columns = ("first_name", "last_name", "email", "emails", "phone", "company_name")

    def ensure_email_free(self, session: Session, email: str | None, exclude: Any = None) -> None:
        self.ensure_free(session, "email", email, exclude)

    def _normalise(self, session: Session, values: dict[str, Any], record: Contact | None) -> None:
        if values.get("phone"):
            try:
                values["phone"] = normalise.phone(values["phone"], default_region(session))
            except ValueError as exc:
                raise validation_error({"phone": [str(exc)]}) from exc
        email = values["email"] if "email" in values else (record.email if record is not None else None)
        if values.get("emails") is not None:
            values["emails"] = [e for e in values["emails"] if e != email]
        self._link_companies(session, values, record)

    def _link_companies(self, session: Session, values: dict[str, Any], record: Contact | None) -> None:
        """company_id is the primary company and always one of company_ids (all links)."""
        if "company_id" not in values and "company_ids" not in values:
            return
        primary = values["company_id"] if "company_id" in values else (record.company_id if record else None)
        given = "company_ids" in values
        links = [str(c) for c in (values["company_ids"] if given else (record.company_ids if record else []))]
        if given and "company_id" not in values and primary is not None and str(primary) not in links:
            primary = values["company_id"] = None  # unlinking the primary company clears it
        if primary is not None and str(primary) not in links:
            links.insert(0, str(primary))
        links = list(dict.fromkeys(links))
        wanted = [uuid.UUID(c) for c in links]
        known = {str(i) for i in session.scalars(select(Company.id).where(Company.id.in_(wanted)))} if wanted else set()
        missing = [c for c in links if c not in known]
        if missing:
            field = "company_id" if primary is not None and str(primary) in missing else "company_ids"
            raise validation_error({field: [f"No company with id {missing[0]}."]})
        values["company_ids"] = links
        if primary is not None and not values.get("company_name") and not (record and record.company_name):
            values["company_name"] = session.scalars(select(Company.name).where(Company.id == primary)).first()

    def prepare(self, session: Session, values: dict[str, Any]) -> None:
        """New values normalised and checked, without the email query: imports prepare a batch of
        rows this way and look their emails up with one query."""
        self._normalise(session, values, None)
        self.check_properties(session, values, None)
        self.refresh_search_text(values)

    def before_create(self, session: Session, values: dict[str, Any]) -> None:
        self.ensure_email_free(session, values.get("email"))
        self.prepare(session, values)

    def prefetch(self, values: dict[str, Any]) -> Sequence[Prefetch]:
        found = list(super().prefetch(values))
        if any(values.get(f) for f in EMAIL_FIELDS):
            from contacts.service.mail_log import prefetch_waiting  # builds on this module

            found.append(prefetch_waiting())  # unmatched logged mail this contact may pick up
        return found

    def fast_create(self, session: Session) -> bool:
        # create() below adds scoring, by a query over the new row (rescore), only with rules, and
        # picks up unmatched logged mail only when the tenant has some (read with BEGIN): otherwise
        # the fast path writes exactly what create() writes.
        from contacts.service.mail_log import maybe_waiting

        return not rules(session) and not maybe_waiting(session)

    def create(self, session: Session, values: dict[str, Any]) -> Contact:
        from contacts.service.mail_log import adopt_for

        record = super().create(session, values)
        if rules(session):  # without rules every score is 0 already
            rescore(session, self.outbox, self.serialize, [record.id])
        if record.email or record.emails:
            adopt_for(session, self.outbox, record)
        return record

    def after_update(self, session: Session, record: Contact, changes: dict[str, list[Any]]) -> None:
        # Any field may be in a rule's filter; last_contacted_at also moves decay. Without rules
        # the score is 0, so a contact already at 0 has nothing to rescore (no query).
        if rules(session) or record.lead_score != 0:
            rescore(session, self.outbox, self.serialize, [record.id])
        if any(f in changes for f in EMAIL_FIELDS):
            from contacts.service.mail_log import adopt_for

            adopt_for(session, self.outbox, record)

    def before_update(self, session: Session, record: Contact, values: dict[str, Any]) -> None:
        if "email" in values and values["email"] != record.email:
            self.ensure_email_free(session, values["email"], exclude=record.id)
        self._normalise(session, values, record)
        self.check_properties(session, values, record.properties)
        self.refresh_search_text(values, record)

    def before_delete(self, session: Session, record: Contact) -> None:
        # Deleting a contact deletes its timeline (imported here: the activities module builds on this one).
        from contacts.service.activities import delete_contact_timeline

        delete_contact_timeline(session, self.outbox, record)
