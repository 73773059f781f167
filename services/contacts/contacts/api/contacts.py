"""/v1/contacts: the conventional record routes."""

from __future__ import annotations

from flask import Blueprint

from contacts.models import Contact
from contacts.schemas.contacts import ContactCreateSchema, ContactInSchema, ContactSchema
from contacts.service.contacts import ContactService
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
        sortable={"first_name": Contact.first_name, "last_name": Contact.last_name, "email": Contact.email},
    ).register(bp, runtime.doc)
