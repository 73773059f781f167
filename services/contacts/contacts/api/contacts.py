"""/v1/contacts: the conventional record routes."""

from __future__ import annotations

from flask import Blueprint

from contacts.schemas.contacts import ContactCreateSchema, ContactInSchema, ContactSchema
from contacts.service.contacts import ContactService
from contacts.service.fields import contact_fields
from contacts.service.search import search_contacts as search
from crm_http.resource import RecordRoutes
from crm_runtime.service import ServiceRuntime


def register(bp: Blueprint, runtime: ServiceRuntime) -> None:
    output = ContactSchema()
    service = ContactService(runtime.outbox, output.dump)
    RecordRoutes(
        collection="contacts", area="contacts", tag="Contacts",
        db=lambda: runtime.db, service=lambda: service,
        create_schema=ContactCreateSchema(), update_schema=ContactInSchema(), output_schema=output,
        idempotency=lambda: runtime.idempotency,
        fields=contact_fields, search=search,
    ).register(bp, runtime.doc)
