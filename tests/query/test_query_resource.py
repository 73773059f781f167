"""RecordRoutes.list with `fields=` / `search=`: filter, sort, search and cursors over HTTP, per tenant."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import flask
import pytest
from flask import Blueprint, Flask
from flask.testing import FlaskClient
from marshmallow import Schema, fields
from sqlalchemy import Integer, MetaData, String, Table
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from crm_core import context
from crm_core.context import Principal
from crm_db.base import JsonType, TenantScoped
from crm_db.database import Database
from crm_http import problems
from crm_http.openapi import ApiDoc
from crm_http.resource import RecordRoutes
from crm_query import FieldRegistry, FieldType, column_field, property_field

A, B = uuid.UUID(int=0xA), uuid.UUID(int=0xB)
# Custom properties differ per tenant: the registry is built per request.
DEFINITIONS = {A: {"plan": ["free", "pro", "team"]}, B: {}}


class Base(DeclarativeBase):
    metadata = MetaData()


class Thing(TenantScoped, Base):
    __tablename__ = "query_things"

    name: Mapped[str | None] = mapped_column(String(100))
    score: Mapped[int | None] = mapped_column(Integer)
    tags: Mapped[list[str]] = mapped_column(JsonType, default=list)
    properties: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)


class ThingSchema(Schema):
    id = fields.UUID()
    name = fields.String()
    score = fields.Integer()
    properties = fields.Dict()


def thing_fields(session: Session) -> FieldRegistry:
    assert session.in_transaction()
    registry = FieldRegistry([
        column_field("name", FieldType.TEXT, Thing.name),
        column_field("score", FieldType.NUMBER, Thing.score),
        column_field("tags", FieldType.TAGS, Thing.tags),
    ])
    for key, options in DEFINITIONS[context.require_tenant()].items():
        registry.add(property_field(key, FieldType.ENUM, Thing.properties, options))
    return registry


def routes(db: Database, collection: str, filterable: bool) -> RecordRoutes:
    service = SimpleNamespace(model=Thing, aggregate="thing")
    return RecordRoutes(
        collection=collection, area="things", tag="Things", db=lambda: db, service=lambda: service,  # type: ignore[arg-type,return-value]
        create_schema=ThingSchema(), update_schema=ThingSchema(), output_schema=ThingSchema(),
        idempotency=lambda: Table("unused", MetaData()), sortable={"name": Thing.name},
        fields=thing_fields if filterable else None,
        search=(lambda stmt, q: stmt.where(Thing.name.icontains(q, autoescape=True))) if filterable else None,
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[tuple[Flask, ApiDoc]]:
    url = f"sqlite:///{tmp_path / 'things.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_database")
    db = Database(url)
    Base.metadata.create_all(db.engine)
    for tenant, count in ((A, 25), (B, 5)):
        with context.tenant_context(tenant), db.transaction() as session:
            for i in range(count):
                session.add(Thing(name=f"thing {i:02d}" if i % 4 else None, score=i % 7, tags=["vip"] if i % 3 == 0 else [],
                                  properties={"plan": ["free", "pro", "team"][i % 3]} if i % 5 else {}))
    app = Flask(__name__)
    problems.install(app)

    @app.before_request
    def authenticate() -> None:
        context.set_principal(Principal(uuid.UUID(flask.request.headers["X-Tenant"]), scopes=("things:read",)))

    app.teardown_request(lambda _exc: context.clear())
    bp, doc = Blueprint("things", __name__), ApiDoc("test")
    routes(db, "things", True).register(bp, doc)
    routes(db, "plain", False).register(bp, doc)
    app.register_blueprint(bp)
    yield app, doc
    Base.metadata.drop_all(db.engine)
    db.dispose()


def get(client: FlaskClient, tenant: uuid.UUID, path: str, **params: str) -> Any:
    return client.get(path, query_string=params, headers={"X-Tenant": str(tenant)})


def walk(client: FlaskClient, tenant: uuid.UUID, path: str, **params: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        resp = get(client, tenant, path, **params, **({"cursor": cursor} if cursor else {}))
        assert resp.status_code == 200, resp.get_json()
        out.extend(resp.get_json()["data"])
        cursor = resp.get_json()["next_cursor"]
        if cursor is None:
            return out


def test_filter_sort_and_cursor(app: tuple[Flask, ApiDoc]) -> None:
    client = app[0].test_client()
    got = walk(client, A, "/v1/things", filter="plan in ('pro', 'team') and score >= 2", sort="plan,-score,name", limit="3")
    expected = sorted(
        (t for t in walk(client, A, "/v1/things", limit="200")
         if t["properties"].get("plan") in ("pro", "team") and t["score"] >= 2),
        key=lambda t: (t["properties"]["plan"], -t["score"], t["name"] is None, t["name"] or ""),
    )
    assert [t["id"] for t in got] == [t["id"] for t in expected] and got


def test_properties_are_per_tenant(app: tuple[Flask, ApiDoc]) -> None:
    client = app[0].test_client()
    resp = get(client, B, "/v1/things", filter="plan = 'pro'")
    assert resp.status_code == 400 and resp.mimetype == "application/problem+json"
    assert resp.get_json()["errors"] == {"filter": ["Unknown field 'plan'"]}
    assert get(client, B, "/v1/things", sort="plan").get_json()["errors"] == {"sort": ["Unknown field 'plan'."]}


def test_a_filter_cannot_escape_the_tenant(app: tuple[Flask, ApiDoc]) -> None:
    client = app[0].test_client()
    mine = walk(client, B, "/v1/things", filter="name = 'nope' or score is not null or score is null or not score = 1")
    assert len(mine) == 5


def test_search(app: tuple[Flask, ApiDoc]) -> None:
    client = app[0].test_client()
    found = walk(client, A, "/v1/things", q="  ThInG 1", sort="name")
    assert [t["name"] for t in found] == [f"thing {i}" for i in range(10, 20) if i % 4]
    assert walk(client, A, "/v1/things", q="%") == []


def test_errors_are_400_problems(app: tuple[Flask, ApiDoc]) -> None:
    client = app[0].test_client()
    for params, field in (({"filter": "score >"}, "filter"), ({"filter": "tags = 'x'"}, "filter"),
                          ({"sort": "-tags"}, "sort"), ({"sort": "nope"}, "sort"),
                          ({"sort": "score", "cursor": "garbage"}, "cursor")):
        resp = get(client, A, "/v1/things", **params)
        assert resp.status_code == 400, params
        assert list(resp.get_json()["errors"]) == [field]


def test_defaults_cover_id_and_timestamps(app: tuple[Flask, ApiDoc]) -> None:
    client = app[0].test_client()
    newest = walk(client, A, "/v1/things", sort="-created_at", limit="4")
    assert len(newest) == 25
    some = newest[7]
    assert [t["id"] for t in walk(client, A, "/v1/things", filter=f"id = '{some['id']}'")] == [some["id"]]
    assert len(walk(client, A, "/v1/things", filter="created_at > '2000-01-01T00:00:00Z'", sort="updated_at")) == 25


def test_without_fields_filter_and_q_are_rejected(app: tuple[Flask, ApiDoc]) -> None:
    client = app[0].test_client()
    resp = get(client, A, "/v1/plain", filter="name = 'x'")
    assert resp.status_code == 400
    assert resp.get_json()["detail"] == "Filtering is not supported on /v1/plain."
    assert get(client, A, "/v1/plain", q="x").status_code == 400
    assert get(client, A, "/v1/plain", filter="").status_code == 200  # an empty parameter is no filter
    assert len(walk(client, A, "/v1/plain", sort="-name", limit="10")) == 25  # the sortable dict still applies


def test_openapi_documents_filter_and_q_where_supported(app: tuple[Flask, ApiDoc]) -> None:
    spec = app[1].spec()
    names = {path: [p["name"] for p in spec["paths"][path]["get"]["parameters"]] for path in ("/v1/things", "/v1/plain")}
    assert names["/v1/things"] == ["limit", "cursor", "sort", "filter", "q"]
    assert names["/v1/plain"] == ["limit", "cursor", "sort"]
    described = next(p for p in spec["paths"]["/v1/things"]["get"]["parameters"] if p["name"] == "filter")
    assert "lifecycle_stage = 'lead'" in described["description"]
