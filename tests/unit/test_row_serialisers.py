"""The row serialisers (crm_http.rows) produce exactly what the output schemas produce.

Every RecordRoutes of every service is found in its app (its bound list/read views), so a new
resource is covered without being listed here; the other record outputs are listed below. For
each: records with every column set (times in another offset, naive times as SQLite returns them)
and with every nullable column null and every list empty, dumped by the schema from the ORM object
and by the serialiser from a row of the same values; then, on SQLite and PostgreSQL, real rows
read back from the database. A schema change the serialiser does not mirror fails here.
"""

from __future__ import annotations

import datetime as dt
import decimal
import importlib
import itertools
import uuid
from collections import namedtuple
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import JSON, inspect, select

from crm_core import context
from crm_http.resource import RecordRoutes
from crm_http.rows import RowSerializer, compile_rows, schema_rows
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, make_harness
from crm_testing.db import create_service_database, libpq_url

SERVICES = ("contacts", "pipeline", "tickets", "campaigns", "automation", "reporting")
# Outputs that need the ORM and stay on schema.dump, with the reason.
SCHEMA_PATH = {"pipelines": "stages is a relationship (a nested list of stage rows)",
               "deals": "contacts is a relationship (the deal contacts with their roles, loaded per page)",
               "teams": "members is a relationship (the team's members with capacity and availability)"}
_counter = itertools.count(1)


def _harness(service: str, tmp_path: Path, database_url: str | None = None, owner_url: str | None = None) -> ServiceHarness:
    module = importlib.import_module(service)
    app_module = importlib.import_module(f"{service}.app")
    models = importlib.import_module(f"{service}.models")
    return make_harness(service, app_module.create_app, models.metadata(), migrations_dir(module.__file__), tmp_path,
                        database_url=database_url, owner_url=owner_url)


def record_routes(svc: ServiceHarness) -> list[RecordRoutes]:
    found: dict[int, RecordRoutes] = {}
    for view in svc.app.view_functions.values():
        owner = getattr(view, "__self__", None)
        if isinstance(owner, RecordRoutes):
            found[id(owner)] = owner
    return list(found.values())


# --- values ------------------------------------------------------------------------------------

OFFSET = dt.timezone(dt.timedelta(hours=5, minutes=30))
JSON_VALUES: dict[str, Any] = {  # column key -> a full value, where "a list" or "a dict" is not enough
    "address": {"street": "1 Main St", "city": "Zürich", "region": "ZH", "postal_code": "8000", "country": "CH"},
    "properties": {"plan": "pro", "old": "archived value", "unknown": 3},
    "company_ids": [str(uuid.UUID(int=1)), str(uuid.UUID(int=2))],
    # logged mail on an email activity: [{address, name, role}]
    "participants": [{"address": "a@example.com", "name": "Ä B", "role": "from"}, {"address": "c@example.com", "role": "cc"}],
    # business hours: weekly slots and holidays
    "frames": {"mon": [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}]},
    "holidays": [{"date": "2026-12-25", "name": "Weihnachten"}],
    "feed_holidays": [{"date": "2027-01-01", "name": "Neujahr"}],
}


def _default_kind(column: Any) -> Any:
    default = column.default
    if default is not None and default.is_callable:
        return default.arg(None)
    return default.arg if default is not None else None


def full_value(column: Any, variant: int) -> Any:
    n = next(_counter)
    kind = column.type
    if isinstance(kind, JSON) or kind.__class__.__name__ in ("JSON", "JSONB"):
        if column.key in JSON_VALUES:
            return JSON_VALUES[column.key]
        empty = _default_kind(column)
        return {"k": "v", "n": 2} if isinstance(empty, dict) else ["a@example.com", "b é", "c"]
    python = kind.python_type
    if python is uuid.UUID:
        return uuid.uuid4()
    if python is dt.datetime:
        # naive (SQLite's kind), UTC, another offset
        base = dt.datetime(2026, 3, 4, 5, 6, 7, 891011 if variant else 0)
        return (base, base.replace(tzinfo=dt.UTC), base.replace(tzinfo=OFFSET))[variant % 3]
    if python is dt.date:
        return dt.date(2026, 2, 28)
    if python is bool:
        return bool(variant % 2)
    if python is int:
        return 40 + n
    if python is decimal.Decimal:
        return decimal.Decimal("1234.5")
    if python is float:
        return 1764651600.125 + n
    if python is str:
        length = getattr(kind, "length", None) or 50
        return f"Välue {n} ünïcode"[:length]
    raise AssertionError(f"no test value for {column}")


def empty_value(column: Any, variant: int) -> Any:
    if column.nullable and not column.primary_key:
        return None
    empty = _default_kind(column)
    if isinstance(empty, list | dict):
        return type(empty)()
    if empty is not None:
        return empty
    return full_value(column, variant)


def value_sets(model: type, overrides: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    columns = [a.columns[0] for a in inspect(model).column_attrs]
    keys = [a.key for a in inspect(model).column_attrs]
    for variant, make in itertools.product(range(3), (full_value, empty_value)):
        for extra in overrides or [{}]:
            values = {k: make(c, variant) for k, c in zip(keys, columns, strict=True)}
            values.update(extra)
            yield values


# Column values a schema branches on (post_dump per activity type, deal status).
OVERRIDES: dict[str, list[dict[str, Any]]] = {
    "Activity": [{"type": t} for t in ("note", "call", "email", "meeting", "unknown")],
    "Ticket": [{"status": "open", "priority": "urgent"}, {"status": "closed", "priority": "low"}],
}


def compare(session: Any, serializer: RowSerializer, model: type, values: dict[str, Any]) -> None:
    """schema.dump(ORM object) == serializer.dump(row of the same values), the object in `session`
    (Method fields find their session through it) but never flushed."""
    record = model(**values)
    with session.no_autoflush:
        session.add(record)
        try:
            expected = serializer.schema.dump(record)
            keys = [c.key for c in serializer.columns]
            row = namedtuple("Row", keys)(*(values[k] for k in keys))
            got = serializer.dump(row, serializer.context(session))
        finally:
            session.expunge(record)
    assert got == expected
    assert list(got) == list(expected)  # key order too


def other_outputs(service: str) -> list[tuple[Any, type]]:
    """Record outputs that are not RecordRoutes (checked that they compile and agree)."""
    if service == "contacts":
        from contacts.models import Activity, PropertyDefinition
        from contacts.schemas.activities import ActivitySchema
        from contacts.schemas.properties import PropertySchema
        return [(ActivitySchema(), Activity), (PropertySchema(), PropertyDefinition)]
    if service == "pipeline":
        from pipeline.models.sales import DealChange
        from pipeline.schemas import DealChangeSchema
        return [(DealChangeSchema(), DealChange)]
    return []


def define_properties(svc: ServiceHarness, tenant: str) -> None:
    for path in ("contacts", "companies"):
        for key, kind in (("plan", {"type": "enum", "options": ["free", "pro"]}), ("old", {"type": "text"})):
            resp = svc.client.post(f"/v1/properties/{path}", json={"key": key, "label": key.title(), **kind},
                                   headers=svc.headers(tenant))
            assert resp.status_code == 201, resp.get_json()
        assert svc.client.delete(f"/v1/properties/{path}/old", headers=svc.headers(tenant)).status_code == 204


def check_service(svc: ServiceHarness, service: str) -> None:
    routes = record_routes(svc)
    if service != "reporting":
        assert routes, f"{service}: no RecordRoutes found"
    if service == "contacts":
        define_properties(svc, "a")
    checked = 0
    with context.tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        for r in routes:
            model = r.service().model
            if r.collection in SCHEMA_PATH:
                assert r.rows is None, f"{r.collection} compiles now: drop it from SCHEMA_PATH"
                continue
            assert r.rows is not None, f"{r.collection}: its output schema does not compile (see crm_http.rows)"
            for values in value_sets(model, OVERRIDES.get(model.__name__, [])):
                values["tenant_id"] = svc.tenant("a")
                compare(session, r.rows, model, values)
                checked += 1
        for schema, model in other_outputs(service):
            serializer = schema_rows(schema, model)
            assert serializer is not None, f"{type(schema).__name__} does not compile"
            for values in value_sets(model, OVERRIDES.get(model.__name__, [])):
                values["tenant_id"] = svc.tenant("a")
                compare(session, serializer, model, values)
                checked += 1
    assert checked or service == "reporting"


@pytest.mark.parametrize("service", SERVICES)
def test_row_serialisers_match_schemas_sqlite(service: str, tmp_path: Path) -> None:
    check_service(_harness(service, tmp_path), service)


@pytest.fixture
def pg_database(pg_admin_url: str) -> Iterator[tuple[str, str]]:
    name = f"rows_{uuid.uuid4().hex[:10]}"
    yield create_service_database(pg_admin_url, name)
    with psycopg.connect(libpq_url(pg_admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.mark.parametrize("service", ["contacts", "pipeline", "tickets", "campaigns", "automation"])
def test_row_serialisers_match_schemas_postgresql(service: str, tmp_path: Path, pg_database: tuple[str, str]) -> None:
    owner_url, app_url = pg_database
    svc = _harness(service, tmp_path, database_url=app_url, owner_url=owner_url)
    try:
        check_service(svc, service)
    finally:
        svc.db.dispose()


def _read_back(svc: ServiceHarness) -> None:
    """Real Core rows from the database (attribute access, driver types) against ORM objects."""
    from contacts.models import Company, Contact

    tenant = svc.headers("a")
    company = svc.client.post("/v1/companies", json={"name": "Acme", "domain": "acme.example", "industry": "Tools",
                                                      "size": 12, "tags": ["b2b"], "properties": {"plan": "pro"}},
                              headers=tenant).get_json()
    full = svc.client.post("/v1/contacts", json={
        "first_name": "Zoë", "last_name": "Ng", "email": "zoe@example.com", "emails": ["z2@example.com"],
        "phone": "+14155550100", "company_id": company["id"], "owner_id": str(uuid.uuid4()),
        "lifecycle_stage": "lead", "lead_status": "new", "source": "web", "tags": ["vip", "x"],
        "address": {"city": "Bern", "country": "ch"}, "properties": {"plan": "pro"}}, headers=tenant)
    assert full.status_code == 201, full.get_json()
    assert svc.client.post("/v1/contacts", json={"email": "bare@example.com"}, headers=tenant).status_code == 201
    with context.tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        # a value of an archived field and of no field at all: hidden by both paths
        for model in (Contact, Company):
            for record in session.scalars(select(model)):
                record.properties = {**record.properties, "old": "kept", "nobody": 1}
        session.flush()
        routes = {r.collection: r for r in record_routes(svc)}
        for collection, model in (("contacts", Contact), ("companies", Company)):
            rows = routes[collection].rows
            assert rows is not None
            by_id = {r.id: r for r in session.execute(select(*rows.columns))}
            records = list(session.scalars(select(model)))
            assert records and len(by_id) == len(records)
            for record in records:
                assert rows.dump(by_id[record.id], rows.context(session)) == rows.schema.dump(record)


def test_read_back_rows_match_sqlite(tmp_path: Path) -> None:
    svc = _harness("contacts", tmp_path)
    define_properties(svc, "a")
    _read_back(svc)


def test_read_back_rows_match_postgresql(tmp_path: Path, pg_database: tuple[str, str]) -> None:
    owner_url, app_url = pg_database
    svc = _harness("contacts", tmp_path, database_url=app_url, owner_url=owner_url)
    try:
        define_properties(svc, "a")
        _read_back(svc)
    finally:
        svc.db.dispose()


def test_uncompilable_fields_are_refused() -> None:
    from marshmallow import Schema, fields

    from contacts.models import Contact

    class WithMethod(Schema):
        id = fields.UUID()
        extra = fields.Method("compute")

        def compute(self, obj: Any) -> int:
            return 1

    class NotAColumn(Schema):
        id = fields.UUID()
        nowhere = fields.String()

    for schema in (WithMethod(), NotAColumn()):
        assert schema_rows(schema, Contact) is None
    assert compile_rows(WithMethod(), Contact, computed={"extra": lambda row, ctx: 1}).dump(
        namedtuple("Row", [c.key for c in inspect(Contact).column_attrs])(*range(len(inspect(Contact).column_attrs))))["extra"] == 1


# --- the compiled pieces against marshmallow, on awkward inputs ---------------------------------

def test_nested_dict_dump_equals_schema_dump() -> None:
    from marshmallow import Schema, fields, post_dump

    from contacts.schemas.contacts import AddressSchema
    from crm_http.rows import _compile_nested

    nested = fields.Nested(AddressSchema)
    fast = _compile_nested(nested)
    assert fast is not None
    for value in ({}, {"city": "Paris"}, {"street": None, "city": "Zürich", "extra": 1},
                  {"street": "1 Main", "city": "X", "region": "R", "postal_code": "1", "country": "FR"},
                  {"street": 3, "country": ["x"]}):
        assert fast(dict(value)) == nested.schema.dump(dict(value)), value
        assert list(fast(dict(value))) == list(nested.schema.dump(dict(value)))

    class Hooked(Schema):
        a = fields.String()

        @post_dump
        def tag(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
            return {**data, "t": 1}

    class Defaulted(Schema):
        a = fields.String(dump_default="d")

    class DictName(Schema):
        items = fields.String()

    for schema in (Hooked, Defaulted, DictName):
        assert _compile_nested(fields.Nested(schema)) is None  # stays on schema.dump


def test_utc_text_equals_utc_datetime_field() -> None:
    import zoneinfo

    from crm_http.fields import UtcDateTime
    from crm_http.rows import utc_text

    field = UtcDateTime()
    zones = [None, dt.UTC, zoneinfo.ZoneInfo("Etc/UTC"), zoneinfo.ZoneInfo("Europe/London"), OFFSET,
             dt.timezone(dt.timedelta(0)), dt.timezone(dt.timedelta(seconds=-1))]
    for zone, micro, month in itertools.product(zones, (0, 7, 999999), (1, 7)):
        value = dt.datetime(2024, month, 3, 4, 5, 6, micro, tzinfo=zone)
        assert utc_text(value) == field._serialize(value, None, None), value
    assert utc_text(None) is None
