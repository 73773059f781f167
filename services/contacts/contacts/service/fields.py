"""What `filter=` and `sort=` may address on contacts and companies: built-in fields, then the
tenant's active custom fields by key (per tenant and definitions version, see properties.active)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from contacts.models import LEAD_STATUSES, LIFECYCLE_STAGES, Company, Contact
from contacts.service.properties import active
from crm_query.fields import FieldRegistry, FieldType, column_field, property_field


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _record_fields(model: type[Contact] | type[Company]) -> list:
    return [
        column_field("id", FieldType.UUID, model.id),
        column_field("created_at", FieldType.DATETIME, model.created_at),
        column_field("updated_at", FieldType.DATETIME, model.updated_at),
        column_field("owner_id", FieldType.UUID, model.owner_id),
        column_field("tags", FieldType.TAGS, model.tags),
        column_field("last_contacted_at", FieldType.DATETIME, model.last_contacted_at),
    ]


def _builtin_contact_fields() -> list:
    return [
        *_record_fields(Contact),
        column_field("first_name", FieldType.TEXT, Contact.first_name),
        column_field("last_name", FieldType.TEXT, Contact.last_name),
        column_field("email", FieldType.EMAIL, Contact.email, normalise=_lower),
        column_field("emails", FieldType.TAGS, Contact.emails, normalise=_lower),
        column_field("phone", FieldType.PHONE, Contact.phone),
        column_field("company_name", FieldType.TEXT, Contact.company_name),
        column_field("company_id", FieldType.UUID, Contact.company_id),
        column_field("company_ids", FieldType.TAGS, Contact.company_ids, normalise=_lower),
        column_field("lifecycle_stage", FieldType.ENUM, Contact.lifecycle_stage, LIFECYCLE_STAGES),
        column_field("lead_status", FieldType.ENUM, Contact.lead_status, LEAD_STATUSES),
        column_field("source", FieldType.TEXT, Contact.source),
        column_field("lead_score", FieldType.NUMBER, Contact.lead_score),
    ]


def _builtin_company_fields() -> list:
    return [
        *_record_fields(Company),
        column_field("name", FieldType.TEXT, Company.name),
        column_field("domain", FieldType.TEXT, Company.domain, normalise=_lower),
        column_field("industry", FieldType.TEXT, Company.industry),
        column_field("size", FieldType.NUMBER, Company.size),
    ]


def _registry(session: Session, object_: str) -> FieldRegistry:
    """Built once per tenant, object and definitions version (cached with the definitions); treat
    it as read-only."""
    definitions = active(session, object_)
    registry = definitions.derived.get("fields")
    if registry is None:
        model, builtins = (Contact, _builtin_contact_fields()) if object_ == "contact" else (Company, _builtin_company_fields())
        registry = FieldRegistry(builtins)
        for key, definition in definitions.by_key.items():
            registry.add(property_field(key, definition.type, model.properties, definition.options))
        definitions.derived["fields"] = registry
    return registry


def contact_fields(session: Session) -> FieldRegistry:
    return _registry(session, "contact")


def company_fields(session: Session) -> FieldRegistry:
    return _registry(session, "company")
