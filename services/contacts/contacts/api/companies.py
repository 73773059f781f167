"""/v1/companies: the conventional record routes, plus the contacts linked to a company."""

from __future__ import annotations

from flask import Blueprint

from contacts.schemas.companies import CompanyCreateSchema, CompanyInSchema, CompanySchema
from contacts.service.companies import CompanyService
from contacts.service.fields import company_fields
from contacts.service.search import search_companies as search
from crm_http.resource import RecordRoutes
from crm_runtime.service import ServiceRuntime


def register(bp: Blueprint, runtime: ServiceRuntime) -> None:
    output = CompanySchema()
    service = CompanyService(runtime.outbox, output.dump)
    RecordRoutes(
        collection="companies", area="contacts", tag="Companies",
        db=lambda: runtime.db, service=lambda: service,
        create_schema=CompanyCreateSchema(), update_schema=CompanyInSchema(), output_schema=output,
        idempotency=lambda: runtime.idempotency,
        fields=company_fields, search=search,
    ).register(bp, runtime.doc)
