"""POST /v1/contacts/batch and /v1/companies/batch: up to 100 creates, updates, upserts or deletes."""

from __future__ import annotations

from flask import Blueprint, Response

from contacts.schemas.batch import RecordBatchResultSchema, RecordBatchSchema
from contacts.schemas.companies import CompanyCreateSchema, CompanyInSchema, CompanySchema
from contacts.schemas.contacts import ContactCreateSchema, ContactInSchema, ContactSchema
from contacts.service.batch import BatchService
from contacts.service.companies import CompanyService
from contacts.service.contacts import ContactService
from crm_http.auth import require_scope
from crm_http.idempotency import idempotent
from crm_http.parsing import load
from crm_http.resource import json_response
from crm_runtime.service import ServiceRuntime


def register(bp: Blueprint, runtime: ServiceRuntime) -> None:
    request_schema = RecordBatchSchema()
    batches = {
        "contacts": BatchService(ContactService(runtime.outbox, ContactSchema().dump), ContactCreateSchema(), ContactInSchema()),
        "companies": BatchService(CompanyService(runtime.outbox, CompanySchema().dump), CompanyCreateSchema(), CompanyInSchema()),
    }
    for collection, batch in batches.items():
        def view(batch: BatchService = batch) -> Response:
            require_scope("contacts:write")
            body = load(request_schema)
            with runtime.db.transaction() as session:
                results = batch.apply(session, body["mode"], body["items"])
            return json_response({"results": results})

        path = f"/v1/{collection}/batch"
        bp.add_url_rule(path, f"{collection}_batch", idempotent(lambda: runtime.db, lambda: runtime.idempotency)(view),
                        methods=["POST"])
        runtime.doc.operation(
            path, "post", summary=f"Create, update, upsert or delete up to 100 {collection}", tag=collection.capitalize(),
            scope="contacts:write", request=RecordBatchSchema, response=RecordBatchResultSchema,
            parameters=[{"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}}],
            extra_responses={422: "Bad mode, or not 1 to 100 items (per-item errors are in the results)"})
