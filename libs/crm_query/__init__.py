"""The `?filter=` / `?sort=` language of list endpoints (API.md "Filter and sort").

    lifecycle_stage = 'lead' and (plan in ('pro', 'team') or lead_score >= 50)

`parse` turns text into an immutable AST (parser.py), `compile_filter` turns it into a
SQLAlchemy WHERE clause over a `FieldRegistry` (fields.py: built-in columns plus custom
properties kept in a JSON `properties` column), and `parse_sort` turns `?sort=` into keyset keys
for `crm_http.pagination.paginate`. Every problem is a 400 `BadRequest` naming it.

Usage with RecordRoutes (the registry is built per request, inside the transaction)::

    from crm_query import FieldRegistry, FieldType, column_field, property_field

    def contact_fields(session: Session) -> FieldRegistry:
        registry = FieldRegistry([
            column_field("email", FieldType.EMAIL, Contact.email, normalise=str.lower),
            column_field("lifecycle_stage", FieldType.ENUM, Contact.lifecycle_stage, options=STAGES),
            column_field("lead_score", FieldType.NUMBER, Contact.lead_score),
            column_field("tags", FieldType.TAGS, Contact.tags),
        ])
        for d in active_definitions(session, "contact").values():
            registry.add(property_field(d.key, d.type, Contact.properties, d.options))
        return registry

    RecordRoutes(..., fields=contact_fields,
                 search=lambda stmt, q: stmt.where(Contact.search_text.contains(q.lower(), autoescape=True)))

RecordRoutes adds `id`, `created_at` and `updated_at` when the registry lacks them. Directly::

    where = compile_filter(request.args.get("filter"), registry, session.get_bind().dialect.name)
    keys = parse_sort(request.args.get("sort"), registry, "-created_at", registry["id"])
"""

from crm_query.compile import compile_filter, compile_node, parse_sort
from crm_query.fields import (
    Field,
    FieldRegistry,
    FieldType,
    JsonValue,
    column_field,
    normalise_date,
    normalise_datetime,
    parse_datetime,
    property_field,
)
from crm_query.parser import MAX_COMPARISONS, MAX_DEPTH, MAX_IN_VALUES, MAX_LENGTH, And, Comparison, Node, Not, Or, Value, parse, to_text

__all__ = [
    "MAX_COMPARISONS", "MAX_DEPTH", "MAX_IN_VALUES", "MAX_LENGTH",
    "And", "Comparison", "Field", "FieldRegistry", "FieldType", "JsonValue", "Node", "Not", "Or", "Value",
    "column_field", "compile_filter", "compile_node", "normalise_date", "normalise_datetime", "parse", "parse_datetime",
    "parse_sort", "property_field", "to_text",
]
