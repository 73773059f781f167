"""/v1/properties/{object}: custom fields of contacts and companies (the shared routes of
crm_properties.routes, over one table holding both objects' definitions)."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Blueprint

from contacts.schemas.properties import PropertySchema
from contacts.service.properties import PropertyService, check_not_builtin, definitions
from crm_core.errors import NotFound
from crm_properties.routes import PropertyRoutes, register_property_routes
from crm_runtime.service import ServiceRuntime

OBJECTS = {"contacts": "contact", "companies": "company", "contact": "contact", "company": "company"}
OBJECT_PARAM = {"name": "object", "in": "path", "required": True, "schema": {"type": "string", "enum": ["contacts", "companies"]}}


def _object(path: Mapping[str, str]) -> str:
    name = path["object_path"]
    if name not in OBJECTS:
        raise NotFound(f"Custom fields exist for contacts and companies, not {name!r}.")
    return OBJECTS[name]


def register(bp: Blueprint, runtime: ServiceRuntime) -> None:
    register_property_routes(bp, runtime, PropertyRoutes(
        path="/v1/properties/<object_path>", endpoint="properties", area="contacts", tag="Custom fields",
        service=PropertyService(runtime.outbox, PropertySchema().dump), definitions=definitions,
        check_key=check_not_builtin, resolve=_object, object_column=True,
        doc_path="/v1/properties/{object}", path_params=[OBJECT_PARAM]))
