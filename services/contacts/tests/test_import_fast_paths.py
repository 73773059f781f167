"""The import's fast paths against the paths they replace, on the same inputs: rows loaded without
marshmallow (rows.fast_loader) vs the create schema, and whole imports with and without it."""

from __future__ import annotations

import csv
import io
import re
import uuid
from typing import Any

import pytest
from marshmallow import Schema, ValidationError
from test_imports import define, error_rows, events, imported, listed

from contacts.schemas.companies import CompanyCreateSchema
from contacts.schemas.contacts import ContactCreateSchema
from contacts.service import imports
from contacts.service.rows import fast_loader
from crm_testing.apps import ServiceHarness

LONG = "x" * 201
CONTACT_ROWS: list[dict[str, Any]] = [
    {"email": "Ada@Example.com", "first_name": "Ada", "last_name": "Lovelace"},
    {"email": "ada@example.com", "phone": "+49 30 1234567", "lifecycle_stage": "lead", "lead_status": "new"},
    {"first_name": "Ünïcødé", "tags": ["a", " b", "a", "c "], "source": "fair"},
    {"phone": "030 123", "emails": ["X@Y.com", "x@y.com", "z@y.com"]},
    {"email": "a@b.co", "company_id": str(uuid.uuid4()), "company_ids": [str(uuid.uuid4())], "owner_id": str(uuid.uuid4())},
    {"email": "a@b.co", "address": {"city": "Berlin", "country": "de", "street": "Unter den Linden 1", "postal_code": "10117"}},
    {"email": "a@b.co", "properties": {"plan": "pro", "seats": 3, "vip": True}},
    {"company_name": "Acme", "first_name": "  padded  "},
    {"email": "x" * 310 + "@example.com"},
    {"first_name": "A" * 200},
    # bad ones: every one must fail on both paths
    {"email": "not-an-email"},
    {"email": "a@b"},
    {"email": "x" * 320 + "@example.com"},
    {"first_name": LONG},
    {"last_name": ""},
    {"phone": "12"},
    {"phone": "1" * 41},
    {"lifecycle_stage": "martian", "email": "a@b.co"},
    {"lead_status": "maybe", "email": "a@b.co"},
    {"company_id": "not-a-uuid", "email": "a@b.co"},
    {"company_ids": ["also-not"], "email": "a@b.co"},
    {"owner_id": "123", "email": "a@b.co"},
    {"emails": ["fine@x.com", "broken"], "email": "a@b.co"},
    {"emails": [f"e{i}@x.com" for i in range(21)], "email": "a@b.co"},
    {"tags": ["t"] * 101, "email": "a@b.co"},
    {"tags": ["x" * 101], "email": "a@b.co"},
    {"address": {"country": "Germany"}, "email": "a@b.co"},
    {"address": {"postal_code": "1" * 21}, "email": "a@b.co"},
    {"address": {"planet": "Mars"}, "email": "a@b.co"},
    {"properties": {"": 1}, "email": "a@b.co"},
    {"properties": {"k" * 65: 1}, "email": "a@b.co"},
    {"source": "", "email": "a@b.co"},
    {"tags": ["a"]},  # no identity (email, first_name, last_name or phone)
    {"address": {"city": "Berlin"}},
    {"unknown_field": "x", "email": "a@b.co"},
    {"email": None, "first_name": None},
    {"email": 12},
]
COMPANY_ROWS: list[dict[str, Any]] = [
    {"name": "Acme", "domain": "https://www.Acme.com/about", "industry": "Tools", "size": "12"},
    {"name": "Acme", "size": "012", "tags": ["b", "b", " a"], "owner_id": str(uuid.uuid4())},
    {"name": "Acme", "properties": {"tier": "gold"}},
    {"name": "Acme", "size": "-1"},
    {"name": "Acme", "size": "1.5"},
    {"name": "Acme", "size": "10000001"},
    {"name": "Acme", "size": "many"},
    {"name": "Acme", "domain": "ab"},
    {"name": "", "domain": "acme.com"},
    {"domain": "acme.com"},  # name is required
    {"name": LONG},
    {"name": "Acme", "industry": "i" * 101},
]


def _subsets(rows: list[dict[str, Any]]) -> list[set[str]]:
    """The schemas an import builds: limited to the fields its file maps (some rows' keys, all keys)."""
    every = {k for row in rows for k in row if k != "unknown_field"}
    return [every, {"email", "first_name", "phone", "tags"}, {"name", "size"}, {"email"}]


@pytest.mark.parametrize(("schema_type", "rows"), [(ContactCreateSchema, CONTACT_ROWS), (CompanyCreateSchema, COMPANY_ROWS)])
def test_fast_loader_accepts_exactly_what_the_schema_accepts_with_the_same_values(schema_type: type[Schema],
                                                                                   rows: list[dict[str, Any]]) -> None:
    fast_taken = accepted = 0
    for only in _subsets(rows):
        only = only & set(schema_type().fields)
        schema = schema_type(only=sorted(only))
        load = fast_loader(schema)
        assert load is not None
        for row in rows:
            before = repr(row)
            try:
                expected: dict[str, Any] | None = schema.load(row)
            except ValidationError:
                expected = None
            accepted += expected is not None
            got = load(row)
            assert repr(row) == before, "the fast path changed its input"
            if got is None:  # the caller then loads with the schema: only failures (or unsure cases) get here
                assert expected is None, (only, row, expected)
                continue
            fast_taken += 1
            assert expected is not None, (only, row, got)
            assert got == expected and list(got) == list(expected), (only, row)
            assert [type(v) for v in got.values()] == [type(v) for v in expected.values()]
    assert fast_taken == accepted >= 3  # every row the schema accepts takes the fast path


def test_a_schema_with_features_the_fast_loader_does_not_know_has_none() -> None:
    from marshmallow import fields, validates

    class WithFieldHook(Schema):
        name = fields.String()

        @validates("name")
        def check(self, value: str, **_: Any) -> None:
            raise ValidationError("no")

    class WithDefault(Schema):
        name = fields.String(load_default="x")

    assert fast_loader(WithFieldHook()) is None and fast_loader(WithDefault()) is None


def _define_every_type(svc: ServiceHarness, tenant: str) -> None:
    for key, kind, extra in (("note", "text", {}), ("seats", "number", {}), ("vip", "bool", {}), ("since", "date", {}),
                             ("seen", "datetime", {}), ("plan", "enum", {"options": ["free", "pro"]}),
                             ("topics", "multi_enum", {"options": ["a", "b", "c"]}), ("alt", "email", {}),
                             ("mobile", "phone", {}), ("site", "url", {}), ("budget", "money", {})):
        define(svc, tenant, key=key, label=key.title(), type=kind, **extra)


HEADER = ["first_name", "last_name", "email", "emails", "phone", "lifecycle_stage", "lead_status", "source", "tags",
          "company_name", "owner_id", "address.city", "address.country", "address.postal_code",
          "note", "seats", "vip", "since", "seen", "plan", "topics", "alt", "mobile", "site", "budget"]


def _file() -> str:
    good = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "emails": "A2@x.com;a3@x.com",
            "phone": "+49 30 1234567", "lifecycle_stage": "lead", "lead_status": "new", "source": "fair",
            "tags": "x; y;x", "company_name": "Acme", "owner_id": str(uuid.UUID(int=7)), "address.city": "Berlin",
            "address.country": "de", "address.postal_code": "10117", "note": "hello", "seats": "3", "vip": "yes",
            "since": "2024-02-29", "seen": "2024-01-01T10:00:00+01:00", "plan": "pro", "topics": "a;c",
            "alt": "Alt@Example.com", "mobile": "0151 23456789", "site": "https://example.com", "budget": "12.50 eur"}
    variants: list[dict[str, str]] = [
        {}, {"email": "bob@example.com", "first_name": "Bøb", "phone": "030 2345678"},
        {"email": "ADA@example.com"},  # a duplicate of an earlier row of the file
        {"email": "pre@example.com"},  # a duplicate of a contact in the database
        {"email": "not-an-email"}, {"email": "a@b"}, {"first_name": "x" * 201}, {"last_name": "y" * 201},
        {"emails": "fine@x.com;broken"}, {"phone": "call me"}, {"phone": "12"}, {"lifecycle_stage": "martian"},
        {"lead_status": "maybe"}, {"source": "s" * 101}, {"tags": "t" * 101}, {"owner_id": "nope"},
        {"address.country": "Germany"}, {"address.postal_code": "1" * 21},
        {"seats": "many"}, {"seats": "1e400"}, {"vip": "perhaps"}, {"since": "2023-02-29"}, {"since": "29.02.2024"},
        {"seen": "2024-01-01T10:00:00"}, {"seen": "yesterday"}, {"plan": "enterprise"}, {"topics": "a;z"},
        {"alt": "alt-at-example"}, {"mobile": "abc"}, {"site": "not a url"}, {"budget": "lots"}, {"budget": "12.50"},
        {"note": "n" * 10_001}, {"email": "", "first_name": "", "last_name": "", "phone": ""},
        {"email": "carol@example.com", "first_name": "Carol", "seats": "2.5", "vip": "0", "topics": "", "budget": "-3 usd"},
        {"email": "dave@example.com", "emails": "", "tags": "", "address.city": "", "address.country": ""},
        {"email": "erin@example.com", "first_name": "Erin", "lifecycle_stage": "marketing_qualified", "phone": "+1 202 555 0143"},
    ]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for n, variant in enumerate(variants):
        row = {**good, "email": f"person{n}@example.com", **variant}
        writer.writerow([row[h] for h in HEADER])
    writer.writerow(["Ada", "", "ada@example.com"] + [""] * (len(HEADER) - 3))  # the first row's email again
    writer.writerow(["Short", "row"])
    writer.writerow(["Too", "many"] + [""] * len(HEADER) + ["extra"])
    return out.getvalue()


def _comparable(contact: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in contact.items() if k not in ("id", "created_at", "updated_at")}


@pytest.mark.parametrize("on_duplicate", ["skip", "update", "create"])
def test_an_import_gives_the_same_records_errors_and_events_with_and_without_the_fast_path(
        contacts_service: ServiceHarness, monkeypatch: pytest.MonkeyPatch, on_duplicate: str) -> None:
    svc = contacts_service
    outcome = {}
    for tenant, fast in (("fast", True), ("slow", False)):
        monkeypatch.setattr(imports, "FAST_ROWS", fast)
        _define_every_type(svc, tenant)
        resp = svc.client.patch("/v1/settings/contacts", json={"default_region": "DE"}, headers=svc.headers(tenant))
        assert resp.status_code == 200
        resp = svc.client.post("/v1/contacts", json={"email": "pre@example.com"}, headers=svc.headers(tenant))
        assert resp.status_code == 201
        job = imported(svc, tenant, _file(), on_duplicate=on_duplicate)
        created = events(svc, "crm.contact.created", f"job-{job['id']}")
        outcome[tenant] = {
            "counts": {k: job[k] for k in ("status", "rows_total", "rows_processed", "created", "updated", "skipped", "failed")},
            "errors": [[re.sub(r"id [0-9a-f-]{36}", "id <id>", c) for c in r] for r in error_rows(svc, tenant, job)],
            "records": sorted((_comparable(c) for c in listed(svc, tenant)), key=lambda c: str(c["email"])),
            "events": sorted((_comparable(e["data"]) for e in created), key=lambda c: str(c["email"])),
        }
    fast, slow = outcome["fast"], outcome["slow"]
    assert fast["counts"] == slow["counts"]
    assert fast["counts"]["failed"] >= 30 and fast["counts"]["created"] >= 4
    assert fast["errors"] == slow["errors"]
    assert fast["records"] == slow["records"]
    assert fast["events"] == slow["events"]


def test_remembered_phones_answer_like_a_fresh_parse() -> None:
    from contacts import normalise

    def fresh(raw: str, region: str | None) -> tuple[str | None, str | None]:
        try:
            return normalise._parse_phone(raw, region), None
        except ValueError as exc:
            return None, str(exc)

    def memo(raw: str, region: str | None) -> tuple[str | None, str | None]:
        try:
            return normalise.phone(raw, region), None
        except ValueError as exc:
            return None, str(exc)

    normalise._phone.cache_clear()
    cases = [(raw, region) for raw in ("+49 30 1234567", "030 1234567", "(202) 555-0143", "call me", "12", "+1 202 555 0143",
                                       "0151 23456789", "") for region in ("DE", "US", None)]
    for _ in range(2):  # the second round answers from the memo, refusals included
        assert [memo(*c) for c in cases] == [fresh(*c) for c in cases]
    assert normalise._phone.cache_info().hits >= len(cases)


@pytest.mark.integration
def test_one_statement_bulk_insert_stores_what_executemany_stores(pg_contacts: ServiceHarness) -> None:
    """bulk.insert_json_rows (json_populate_recordset) vs the executemany it replaced, on the same rows."""
    import datetime as dt
    import decimal

    from sqlalchemy import select

    from crm_core import context
    from crm_core.ids import uuid7
    from crm_db import bulk

    svc = pg_contacts
    table = svc.metadata.tables["contacts"]
    now = dt.datetime.now(dt.UTC)

    def rows(tenant: uuid.UUID) -> list[dict[str, Any]]:
        out = []
        for i, (first, props, tags, address) in enumerate([
                ("Ada", {"plan": "pro", "seats": 3}, ["a", "b"], None),
                ("Ünïcødé \"q\" \\ \t\n ✓", {"big": 10**18, "f": 1.25, "neg": -0.5, "ok": True, "none": None}, [], {"city": "Berlin"}),
                (None, {}, ["x" * 100], {"street": "Line\nbreak", "country": "DE"}),
                ("", {"nested": {"deep": [1, [2, {"y": "z"}]]}}, ["😀"], {})]):
            out.append({"tenant_id": tenant, "id": uuid7(), "first_name": first, "last_name": None, "email": f"p{i}@x.com",
                        "emails": [f"q{i}@x.com"], "phone": "+493012345", "company_name": None, "company_id": None,
                        "company_ids": [str(uuid.UUID(int=i))], "owner_id": uuid.UUID(int=9), "lifecycle_stage": "lead",
                        "lead_status": None, "source": "s", "tags": tags, "address": address, "properties": props,
                        "lead_score": i, "last_contacted_at": now - dt.timedelta(days=i) if i % 2 else None, "merged_ids": [],
                        "search_text": f"p{i}", "created_at": now, "updated_at": now.replace(tzinfo=None) if i == 3 else now,
                        "version": 1})
        return out

    stored = {}
    for name, write in (("json", lambda conn, r: bulk.insert_json_rows(conn, table, list(r[0]), bulk.json_rows(table, r))),
                        ("executemany", lambda conn, r: bulk._executemany(conn, table, r))):
        tenant = uuid.uuid4()
        with context.tenant_context(tenant), svc.db.transaction() as session:
            write(session.connection(), rows(tenant))
        with context.tenant_context(tenant), svc.db.transaction() as session:
            found = session.execute(select(table).order_by(table.c.email)).mappings().all()
        stored[name] = [{k: v for k, v in r.items() if k not in ("tenant_id", "id")} for r in found]
    assert len(stored["json"]) == 4 and stored["json"] == stored["executemany"]
    with pytest.raises(TypeError):  # bulk_insert then takes the executemany way
        bulk.json_rows(table, [{"lead_score": 10**40}])
    assert bulk.json_rows(table, [{"x": decimal.Decimal("1.50")}]) == [b'{"x":"1.50"}']


@pytest.mark.integration
def test_outbox_pieces_store_the_payload_event_to_json_writes_in_order(pg_contacts: ServiceHarness) -> None:
    from sqlalchemy import select

    from crm_core import context
    from crm_events.envelope import Event
    from crm_events.template import OutboxPieces, insert_outbox_pieces

    svc = pg_contacts
    outbox = svc.metadata.tables["outbox"]
    tenant = uuid.uuid4()
    data = [{"first_name": "Ünïcødé ✓ 😀", "note": "a\nb\t\"c\" \\ \x01 \u2028", "n": 1.5, "big": 10**30},
            {"nested": {"deep": [{"x": [1, [2, {"y": None}]]}]}, "empty": [], "obj": {}}, {}] * 3
    subjects = [str(uuid.uuid4()) for _ in data]
    chain = [str(uuid.uuid4()), str(uuid.uuid4())]  # origin and causation as a workflow-started import would have
    pieces = OutboxPieces("contacts", "crm.contact.created", str(tenant), "job-x", "2026-01-02T03:04:05.000001Z",
                          origin="import", causation=chain)
    with context.tenant_context(tenant), svc.db.transaction() as session:
        insert_outbox_pieces(session.connection(), outbox, "contacts", "crm.contact.created", tenant,
                             [pieces.piece(s, d, str(uuid.uuid4())) for s, d in zip(subjects, data, strict=True)])
    with context.tenant_context(tenant), svc.db.transaction() as session:
        rows = session.execute(select(outbox).where(outbox.c.tenant_id == tenant).order_by(outbox.c.id)).all()
    assert [r.key for r in rows] == subjects
    for row, subject, body in zip(rows, subjects, data, strict=True):
        assert (row.event_type, row.topic) == ("crm.contact.created", "crm.contacts.contact")
        expected = Event(type="crm.contact.created", source="contacts", tenant_id=str(tenant), subject=subject, data=body,
                         id=str(row.event_id), time="2026-01-02T03:04:05.000001Z", request_id="job-x", origin="import",
                         causation=chain).to_json()
        assert row.payload == expected


def _validators(schema: Schema) -> list[Any]:
    """Every validator of a schema's fields, nested schemas and list items included."""
    from marshmallow import fields as f

    found: list[Any] = []
    for field in schema.fields.values():
        found += field.validators
        if isinstance(field, f.List):
            found += field.inner.validators
        if isinstance(field, f.Nested):
            found += _validators(field.schema)
        if isinstance(field, f.Mapping) and field.key_field is not None:
            found += field.key_field.validators
    return found


@pytest.mark.parametrize("schema", [ContactCreateSchema(), CompanyCreateSchema()], ids=["contact", "company"])
def test_inlined_validators_accept_what_the_validators_accept(schema: Schema) -> None:
    """rows._validator_check (Length, OneOf inlined) says yes exactly where the validator does not raise."""
    from marshmallow import validate

    from contacts.service.rows import _validator_check

    validators = _validators(schema) + [validate.Length(equal=2), validate.Length(min=2), validate.Length(),
                                        validate.OneOf([1, "a"]), validate.OneOf({"a", "b"})]
    assert any(type(v) is validate.Length for v in validators) and any(type(v) is validate.OneOf for v in validators)
    values: list[Any] = ["", "a", "ab", "lead", "customer", "x" * 19, "x" * 20, "x" * 21, "x" * 64, "x" * 65,
                         "x" * 99, "x" * 100, "x" * 101, "x" * 199, "x" * 200, "x" * 201, "x" * 320, "x" * 321,
                         [], ["a"], ["a"] * 20, ["a"] * 21, ["a"] * 50, ["a"] * 51, ["a"] * 101, {"a": 1}, 1, ["unhashable"]]
    for validator in validators:
        check = _validator_check(validator)
        for value in values:
            try:
                validator(value)
                expected = True
            except ValidationError:
                expected = False
            except (TypeError, AttributeError) as exc:  # not a value this validator takes: both fail alike
                with pytest.raises(type(exc)):
                    check(value)
                continue
            try:
                got = check(value)
            except ValidationError:  # a validator not inlined refuses by raising, as before
                got = False
            assert got is expected, (validator, value)
