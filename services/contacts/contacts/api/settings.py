"""/v1/settings/contacts: the tenant's settings for this service."""

from __future__ import annotations

from flask import Blueprint, Response

from contacts.schemas.contacts import ContactSettingsSchema
from contacts.service.settings import as_dict, tenant_settings, update_settings
from crm_http.auth import require_admin_access, require_scope
from crm_http.parsing import load
from crm_http.resource import json_response
from crm_runtime.service import ServiceRuntime

PATH = "/v1/settings/contacts"


def register(bp: Blueprint, runtime: ServiceRuntime) -> None:
    schema = ContactSettingsSchema()

    def read() -> Response:
        require_scope("contacts:read")
        with runtime.db.transaction() as session:
            return json_response(as_dict(tenant_settings(session)))

    def update() -> Response:
        require_scope("contacts:write")
        require_admin_access()  # a tenant-wide setting
        values = load(schema, partial=True)
        with runtime.db.transaction() as session:
            return json_response(update_settings(session, runtime.outbox, values))

    bp.add_url_rule(PATH, "contact_settings_get", read, methods=["GET"])
    bp.add_url_rule(PATH, "contact_settings_update", update, methods=["PATCH"])
    runtime.doc.operation(PATH, "get", summary="Contact settings", tag="Contacts", scope="contacts:read",
                          response=ContactSettingsSchema)
    runtime.doc.operation(PATH, "patch", summary="Change contact settings (owners and admins)", tag="Contacts",
                          scope="contacts:write", request=ContactSettingsSchema, response=ContactSettingsSchema,
                          extra_responses={403: "Not an owner or admin", 422: "Invalid fields"})
