"""GDPR routes for one contact:

GET  /v1/contacts/{id}/export   everything the service holds about the person, as a JSON download
POST /v1/contacts/{id}/erase    erase it, leaving an anonymous tombstone (the id then answers 410)

Both take an owner or admin user (or an API key with the `admin` scope): a member may read contacts,
not pull or destroy everything held about a person.
"""

from __future__ import annotations

from flask import Blueprint, Response

from contacts.schemas.contacts import ContactSchema
from contacts.schemas.privacy import ContactExportSchema, ErasureSchema
from contacts.service.contacts import ContactService
from contacts.service.privacy import PrivacyService
from crm_http.auth import require_admin_access, require_scope
from crm_http.idempotency import idempotent
from crm_http.parsing import if_match_version, parse_uuid
from crm_http.resource import json_response
from crm_runtime.service import ServiceRuntime

TAG = "Contacts"
ID_PARAM = {"name": "record_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
KEY_PARAM = {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}}
IF_MATCH = {"name": "If-Match", "in": "header", "schema": {"type": "string"},
            "description": "Erase only if the contact is still at this version (its ETag)."}


def register(bp: Blueprint, runtime: ServiceRuntime) -> None:
    contacts = ContactService(runtime.outbox, ContactSchema().dump)
    privacy = PrivacyService(runtime.outbox, contacts, runtime.idempotency)
    erased = ErasureSchema()

    def export(record_id: str) -> Response:
        require_scope("contacts:read")
        require_admin_access()  # everything held about a person: a data-protection request, not a browse
        rid = parse_uuid(record_id, "contact")
        with runtime.db.transaction() as session:
            document = privacy.export(session, rid)
        name = document["contact"]["id"]
        return json_response(document, headers={"Content-Disposition": f'attachment; filename="contact-{name}.json"',
                                                "Cache-Control": "no-store"})

    def erase(record_id: str) -> Response:
        require_scope("contacts:write")
        require_admin_access()  # irreversible, tenant-wide consequences
        rid = parse_uuid(record_id, "contact")
        expected = if_match_version()
        with runtime.db.transaction() as session:
            result = privacy.erase(session, rid, expected)
        return json_response(erased.dump(result))

    once = idempotent(lambda: runtime.db, lambda: runtime.idempotency)
    bp.add_url_rule("/v1/contacts/<record_id>/export", "contact_export", export, methods=["GET"])
    bp.add_url_rule("/v1/contacts/<record_id>/erase", "contact_erase", once(erase), methods=["POST"])
    runtime.doc.operation(
        "/v1/contacts/{record_id}/export", "get", tag=TAG, scope="contacts:read",
        summary="Export everything held about a contact (GDPR access; owners and admins), as a JSON attachment; "
                "a merged id exports the contact it was merged into",
        response=ContactExportSchema, parameters=[ID_PARAM], extra_responses={404: "Not found", 410: "Erased contact"})
    runtime.doc.operation(
        "/v1/contacts/{record_id}/erase", "post", tag=TAG, scope="contacts:write",
        summary="Erase a contact (GDPR erasure; owners and admins): its data, timeline, merge snapshots and failed import rows go, "
                "an anonymous tombstone stays (the id and its merged ids answer 410), crm.contact.erased is emitted "
                "with ids only. Erasing an erased id answers the first erasure again",
        response=ErasureSchema, parameters=[ID_PARAM, KEY_PARAM, IF_MATCH],
        extra_responses={404: "Not found", 409: "The id was merged away: erase the contact named by `merged_into`",
                         412: "Stale If-Match"})
