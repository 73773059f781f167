"""OpenAPI 3.1 fragments built from marshmallow schemas; the gateway merges every service's fragment."""

from __future__ import annotations

import decimal
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields, validate

PROBLEM = {
    "type": "object",
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
    },
}


def _schema_name(schema: type[Schema] | Schema) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__
    return name[:-6] if name.endswith("Schema") else name


def decimal_string(_converter: Any, field: fields.Field, ret: dict[str, Any], **_: Any) -> dict[str, Any]:
    """A decimal sent as a string ("1234.50") is a JSON string with a pattern, not a number.

    apispec calls it a number and copies the Range bounds as Decimals, which render as strings
    ("maximum": "1e15"): invalid JSON Schema that stops generators and fuzzers.
    """
    if not isinstance(field, fields.Decimal):
        return {}
    bound = max((abs(decimal.Decimal(v)) for r in field.validators if isinstance(r, validate.Range)
                 for v in (r.min, r.max) if v is not None), default=None)
    if not field.as_string:
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if key in ret:
                ret[key] = float(ret[key])
        return {}
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        ret.pop(key, None)
    # As many integer digits as the bound has ("100" for a percentage up to 100); Range still
    # decides the exact limit. No places: any fraction (an exchange rate).
    digits = len(str(int(bound))) if bound is not None else 30
    places = field.places
    if places is None:
        fraction = r"(\.\d+)?"
    else:
        fraction = "" if places == decimal.Decimal(1) else rf"(\.\d{{1,{_places(places)}}})?"
    ret["type"] = ["string", "null"] if field.allow_none else "string"
    return {"pattern": rf"^-?\d{{1,{digits}}}{fraction}$"}


def _places(places: Any) -> int:
    if isinstance(places, decimal.Decimal):
        return max(-places.as_tuple().exponent, 0)  # type: ignore[operator]
    return int(places)


def operation_id(method: str, path: str) -> str:
    """`patch /v1/contacts/{record_id}` -> `patch_contacts_record_id`: unique across the merged
    document (a method and path are), and what code generators name their functions after."""
    words = [w.strip("{}").replace("-", "_") for w in path.split("/") if w and w != "v1"]
    return "_".join([method.lower(), *words])


class ApiDoc:
    """Collects operations as routes are registered; `spec()` renders them."""

    def __init__(self, title: str, version: str = "1.0.0") -> None:
        plugin = MarshmallowPlugin(schema_name_resolver=_schema_name)
        self.apispec = APISpec(title=title, version=version, openapi_version="3.1.0", plugins=[plugin])
        plugin.converter.add_attribute_function(decimal_string)  # type: ignore[union-attr]
        self.apispec.components.schema("Problem", PROBLEM)
        self.apispec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
        self._paths: dict[str, dict[str, Any]] = {}

    def operation(
        self,
        path: str,
        method: str,
        *,
        summary: str,
        tag: str,
        scope: str | None = None,
        request: type[Schema] | Schema | None = None,
        response: type[Schema] | Schema | None = None,
        status: int = 200,
        list_of: bool = False,
        parameters: list[dict[str, Any]] | None = None,
        extra_responses: dict[int, str] | None = None,
        request_content: dict[str, Any] | None = None,
        response_content: dict[str, Any] | None = None,
    ) -> None:
        """`request_content` / `response_content`: raw OpenAPI content maps, for bodies that are not
        JSON (multipart uploads, CSV downloads)."""
        op: dict[str, Any] = {"summary": summary, "operationId": operation_id(method, path), "tags": [tag],
                              "security": [{"bearer": []}], "responses": {}}
        if scope:
            op["description"] = f"Requires the `{scope}` scope."
        if parameters:
            op["parameters"] = parameters
        if request is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": request}}}
        if request_content is not None:
            op["requestBody"] = {"required": True, "content": request_content}
        if response is not None:
            content_schema: Any = response
            if list_of:
                content_schema = {"type": "object", "properties": {
                    "data": {"type": "array", "items": response},
                    "next_cursor": {"type": ["string", "null"]},
                }}
            op["responses"][str(status)] = {"description": "OK", "content": {"application/json": {"schema": content_schema}}}
        else:
            op["responses"][str(status)] = {"description": "OK", **({"content": response_content} if response_content else {})}
        problem = {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        for code, text in {400: "Bad request", 401: "Unauthenticated", 403: "Missing scope", **(extra_responses or {})}.items():
            op["responses"][str(code)] = {"description": text, **problem}
        self._paths.setdefault(path, {})[method.lower()] = op

    def response_header(self, path: str, method: str, status: int, name: str, description: str) -> None:
        """Documents a header an operation already registered may answer with."""
        response = self._paths[path][method.lower()]["responses"][str(status)]
        response.setdefault("headers", {})[name] = {"description": description, "schema": {"type": "string"}}

    def spec(self) -> dict[str, Any]:
        for path, ops in self._paths.items():
            self.apispec.path(path=path, operations=ops)
        self._paths = {}
        return self.apispec.to_dict()


def merge(title: str, fragments: list[dict[str, Any]], extra_paths: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1.0.0"},
        "servers": [{"url": "/"}],
        "paths": {},
        "components": {"schemas": {}, "securitySchemes": {}},
    }
    conflicts: set[str] = set()
    for fragment in fragments:
        for path, ops in fragment.get("paths", {}).items():
            doc["paths"].setdefault(path, {}).update(ops)
        components = fragment.get("components", {})
        for name, schema in components.get("schemas", {}).items():
            if doc["components"]["schemas"].setdefault(name, schema) != schema:
                conflicts.add(name)  # the first keeps its name; the other would be documented wrongly
        doc["components"]["securitySchemes"].update(components.get("securitySchemes", {}))
    for path, ops in (extra_paths or {}).items():
        doc["paths"].setdefault(path, {}).update(ops)
    if conflicts:  # a test asserts there are none; the docs stay up meanwhile
        doc["info"]["x-component-conflicts"] = sorted(conflicts)
    return doc
