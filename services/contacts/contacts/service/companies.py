"""Company use cases: a normalised domain, unique per tenant, and custom properties."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from contacts import normalise
from contacts.models import Company
from contacts.service.common import PartyService
from crm_core.errors import validation_error


def normalised_domain(raw: str) -> str:
    try:
        return normalise.domain(raw)
    except ValueError as exc:
        raise validation_error({"domain": [str(exc)]}) from exc


class CompanyService(PartyService[Company]):
    model = Company
    aggregate = "company"
    object_name = "company"
    unique_field = "domain"

    def unique_value(self, values: dict[str, Any]) -> Any:
        try:
            return normalise.domain(values["domain"]) if values.get("domain") else None
        except ValueError:
            return None  # before_create answers 422
    search_columns = ("name", "domain")

    def _normalise_domain(self, session: Session, values: dict[str, Any], exclude: Any = None) -> None:
        if not values.get("domain"):
            return
        values["domain"] = normalised_domain(values["domain"])
        self.ensure_free(session, "domain", values["domain"], exclude)

    def prepare(self, session: Session, values: dict[str, Any]) -> None:
        """New values normalised and checked, without the domain query (see ContactService.prepare)."""
        if values.get("domain"):
            values["domain"] = normalised_domain(values["domain"])
        self.check_properties(session, values, None)
        self.refresh_search_text(values)

    def before_create(self, session: Session, values: dict[str, Any]) -> None:
        self._normalise_domain(session, values)
        self.prepare(session, values)

    def before_update(self, session: Session, record: Company, values: dict[str, Any]) -> None:
        if "domain" in values and values["domain"] != record.domain:
            self._normalise_domain(session, values, exclude=record.id)
        self.check_properties(session, values, record.properties)
        self.refresh_search_text(values, record)

    def before_delete(self, session: Session, record: Company) -> None:
        # Company-only activities go; its contacts' activities stay on their timelines, unlinked.
        # (Imported here: the activities module builds on this one.)
        from contacts.service.activities import detach_company_timeline

        detach_company_timeline(session, self.outbox, record)
