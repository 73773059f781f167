"""The fast write path (RecordService.create_body, tenancy.Prefetch / defer, the pipelined COMMIT)
against the ORM path it replaces: the same stored row, event and answer; atomic with its event."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import insert, select

from contacts.models import Contact
from contacts.service.contacts import ContactService
from crm_core import context
from crm_db import tenancy
from crm_events.tables import event_tables
from crm_testing.apps import ServiceHarness

# What differs between two creates of the same values: ids, clocks, the tenant.
VOLATILE = {"id", "created_at", "updated_at", "tenant_id"}

PROPERTIES = [
    {"key": "plan", "label": "Plan", "type": "enum", "options": ["free", "pro"]},
    {"key": "seats", "label": "Seats", "type": "number"},
    {"key": "mobile", "label": "Mobile", "type": "phone"},
    {"key": "renewal", "label": "Renewal", "type": "date"},
    {"key": "budget", "label": "Budget", "type": "money"},
    {"key": "langs", "label": "Languages", "type": "multi_enum", "options": ["en", "de", "fr"]},
    {"key": "gone", "label": "Gone", "type": "text"},
]


@pytest.fixture(params=["sqlite", "postgresql"])
def svc(request: pytest.FixtureRequest) -> ServiceHarness:
    return request.getfixturevalue("contacts_service" if request.param == "sqlite" else "pg_contacts")


def _setup_tenant(svc: ServiceHarness, tenant: str) -> dict[str, str]:
    """Settings (phone region), custom fields (one archived), two companies."""
    h = svc.headers(tenant)
    assert svc.client.patch("/v1/settings/contacts", json={"default_region": "DE"}, headers=h).status_code == 200
    for prop in PROPERTIES:
        assert svc.client.post("/v1/properties/contacts", json=prop, headers=h).status_code == 201
    companies = {}
    for name, domain in (("Acme", "acme.example"), ("Globex", "globex.example")):
        resp = svc.client.post("/v1/companies", json={"name": name, "domain": domain}, headers=h)
        assert resp.status_code == 201, resp.get_json()
        companies[name] = resp.get_json()["id"]
    return companies


def _inputs(companies: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {"first_name": "Bench", "last_name": "Mark", "company_name": "Load Co"},
        {"email": "ADA@Example.com", "emails": ["Ada@Example.com", "ada@home.org", "ADA@home.org"],
         "first_name": " Ada ", "last_name": "Lovelace", "phone": "030 1234567", "lifecycle_stage": "lead",
         "lead_status": "new", "source": "web", "tags": ["vip", " vip", "beta"],
         "address": {"street": "1 Way", "city": "Berlin", "postal_code": "10115", "country": "de"},
         "owner_id": "0190b9a4-0000-7000-8000-000000000001",
         "properties": {"plan": "pro", "seats": 12, "mobile": "0151 23456789", "renewal": "2027-01-31",
                        "budget": {"amount": "1200.5", "currency": "EUR"}, "langs": ["de", "en", "de"]}},
        {"email": "grace@example.com", "company_id": companies["Acme"], "company_ids": [companies["Globex"]]},
        {"last_name": "Hopper", "company_ids": [companies["Globex"], companies["Acme"]], "properties": {"seats": 1.5}},
        {"phone": "+1 (415) 555-0100", "company_id": companies["Globex"], "company_name": "Given Name Inc"},
    ]


def _without(d: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in keys}


def _stored(svc: ServiceHarness, tenant: str, contact_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the contacts row, the outbox rows about it) as stored."""
    outbox = event_tables(svc.metadata).outbox
    with context.tenant_context(svc.tenant(tenant)), svc.db.transaction() as s:
        row = s.execute(select(Contact.__table__).where(Contact.__table__.c.id == uuid.UUID(contact_id))).mappings().one()
        events = [dict(r) for r in s.execute(select(outbox).where(outbox.c.key == contact_id).order_by(outbox.c.id)).mappings()]
    return dict(row), events


@pytest.fixture
def orm_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A switch: inside `with orm_path():` creates take the ORM path, as before the fast path."""
    import contextlib

    @contextlib.contextmanager
    def switch() -> Iterator[None]:
        with monkeypatch.context() as m:
            m.setattr(ContactService, "fast_create", lambda self, session: False)
            yield

    yield switch


def _event_view(event: dict[str, Any]) -> dict[str, Any]:
    payload = json.loads(event["payload"])
    return {"event_type": event["event_type"], "topic": event["topic"], "type": payload["type"],
            "source": payload["source"], "data": _without(payload["data"], VOLATILE)}


def test_fast_create_stores_and_answers_what_the_orm_path_does(svc: ServiceHarness, orm_path: Any) -> None:
    fast_companies, slow_companies = _setup_tenant(svc, "fast"), _setup_tenant(svc, "slow")
    # One property archived after definition: hidden from answers and events on both paths.
    for tenant in ("fast", "slow"):
        assert svc.client.delete("/v1/properties/contacts/gone", headers=svc.headers(tenant)).status_code == 204
    slow_ids = {v: k for k, v in slow_companies.items()}
    for fast_input, slow_input in zip(_inputs(fast_companies), _inputs(slow_companies), strict=True):
        with pytest.MonkeyPatch.context() as m:  # the fast path never builds the ORM object
            m.setattr(ContactService, "create", lambda *a, **k: pytest.fail("ORM path taken"))
            fast = svc.client.post("/v1/contacts", json=fast_input, headers=svc.headers("fast"))
        with orm_path():
            slow = svc.client.post("/v1/contacts", json=slow_input, headers=svc.headers("slow"))
        assert fast.status_code == slow.status_code == 201, (fast.get_json(), slow.get_json())
        assert fast.headers["ETag"] == slow.headers["ETag"]
        fast_body, slow_body = fast.get_json(), slow.get_json()
        # Company ids differ per tenant: compare them by company name.
        for body, names in ((fast_body, {v: k for k, v in fast_companies.items()}), (slow_body, slow_ids)):
            body["company_id"] = names.get(body["company_id"], body["company_id"])
            body["company_ids"] = [names[c] for c in body["company_ids"]]
        assert _without(fast_body, VOLATILE) == _without(slow_body, VOLATILE)
        assert list(fast_body) == list(slow_body)  # same keys in the same order

        fast_row, fast_events = _stored(svc, "fast", fast.get_json()["id"])
        slow_row, slow_events = _stored(svc, "slow", slow.get_json()["id"])
        for row, names in ((fast_row, {v: k for k, v in fast_companies.items()}), (slow_row, slow_ids)):
            row["company_id"] = names.get(str(row["company_id"]), row["company_id"])
            row["company_ids"] = [names[c] for c in row["company_ids"]]
        assert _without(fast_row, VOLATILE) == _without(slow_row, VOLATILE)
        assert [e["event_type"] for e in fast_events] == [e["event_type"] for e in slow_events] == ["crm.contact.created"]
        fast_event, slow_event = _event_view(fast_events[0]), _event_view(slow_events[0])
        for view, names in ((fast_event, {v: k for k, v in fast_companies.items()}), (slow_event, slow_ids)):
            view["data"]["company_id"] = names.get(view["data"]["company_id"], view["data"]["company_id"])
            view["data"]["company_ids"] = [names[c] for c in view["data"]["company_ids"]]
        assert fast_event == slow_event
        # The event carries exactly the answer.
        assert json.loads(fast_events[0]["payload"])["data"] == fast.get_json()


def test_with_scoring_rules_a_create_is_scored_as_before(svc: ServiceHarness) -> None:
    h = svc.headers("a")
    rule = svc.client.post("/v1/scoring-rules", json={"name": "leads", "filter": "lifecycle_stage = 'lead'", "points": 7},
                           headers=h)
    assert rule.status_code == 201, rule.get_json()
    resp = svc.client.post("/v1/contacts", json={"email": "scored@example.com", "lifecycle_stage": "lead"}, headers=h)
    assert resp.status_code == 201 and resp.get_json()["lead_score"] == 7
    row, events = _stored(svc, "a", resp.get_json()["id"])
    assert row["lead_score"] == 7
    assert [e["event_type"] for e in events] == ["crm.contact.created", "crm.contact.updated"]


def test_patch_and_delete_emit_as_before(svc: ServiceHarness) -> None:
    h = svc.headers("a")
    created = svc.client.post("/v1/contacts", json={"email": "p@example.com", "last_name": "Old"}, headers=h).get_json()
    patched = svc.client.patch(f"/v1/contacts/{created['id']}", json={"last_name": "New", "email": "q@example.com"},
                               headers={**h, "If-Match": '"1"'})
    assert patched.status_code == 200 and patched.get_json()["version"] == 2
    row, events = _stored(svc, "a", created["id"])
    assert row["last_name"] == "New" and row["email"] == "q@example.com"
    updated = json.loads(events[1]["payload"])["data"]
    assert updated["changes"] == {"last_name": ["Old", "New"], "email": ["p@example.com", "q@example.com"]}
    assert _without(updated, {"changes"}) == patched.get_json()
    # The email check still runs on updates (prefetched or not): 409 naming the holder.
    other = svc.client.post("/v1/contacts", json={"email": "r@example.com"}, headers=h).get_json()
    clash = svc.client.patch(f"/v1/contacts/{other['id']}", json={"email": "q@example.com"}, headers=h)
    assert clash.status_code == 409 and clash.get_json()["existing_id"] == created["id"]
    same = svc.client.patch(f"/v1/contacts/{created['id']}", json={"email": "q@example.com", "last_name": "Same"}, headers=h)
    assert same.status_code == 200
    assert svc.client.delete(f"/v1/contacts/{created['id']}", headers=h).status_code == 204
    outbox = event_tables(svc.metadata).outbox
    with svc.db.transaction() as s:
        types = list(s.scalars(select(outbox.c.event_type).where(outbox.c.key == created["id"]).order_by(outbox.c.id)))
    assert types == ["crm.contact.created", "crm.contact.updated", "crm.contact.updated", "crm.contact.deleted"]


def _counts(svc: ServiceHarness, tenant: str) -> tuple[int, int]:
    outbox = event_tables(svc.metadata).outbox
    with context.tenant_context(svc.tenant(tenant)), svc.db.transaction() as s:
        contacts = len(list(s.scalars(select(Contact.id))))
        events = len(list(s.scalars(select(outbox.c.id).where(outbox.c.tenant_id == svc.tenant(tenant),
                                                                outbox.c.event_type == "crm.contact.created"))))
    return contacts, events


def test_a_unique_violation_at_commit_rolls_back_row_and_event(svc: ServiceHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    """The race the email check can't see (another request inserts the same email in between): the
    queued INSERT fails at COMMIT, the queued event goes with it, and the answer is the usual 409."""
    h = svc.headers("a")
    assert svc.client.post("/v1/contacts", json={"email": "dup@example.com"}, headers=h).status_code == 201
    monkeypatch.setattr(ContactService, "ensure_email_free", lambda self, session, email, exclude=None: None)
    resp = svc.client.post("/v1/contacts", json={"email": "dup@example.com", "last_name": "Second"}, headers=h)
    assert resp.status_code == 409, resp.get_json()
    assert _counts(svc, "a") == (1, 1)
    # The connection is fine afterwards.
    assert svc.client.post("/v1/contacts", json={"email": "next@example.com"}, headers=h).status_code == 201
    assert _counts(svc, "a") == (2, 2)


def test_a_failing_event_insert_rolls_back_the_row(pg_contacts: ServiceHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    """The row's INSERT succeeds, the event's fails (a topic too long for its column: PostgreSQL
    checks lengths): neither is stored."""
    svc = pg_contacts
    h = svc.headers("a")
    import crm_events.outbox as outbox_module

    monkeypatch.setattr(outbox_module, "topic_for", lambda service, event_type: "t" * 300)
    resp = svc.client.post("/v1/contacts", json={"email": "lost@example.com"}, headers=h)
    assert resp.status_code >= 400
    monkeypatch.undo()
    assert _counts(svc, "a") == (0, 0)
    assert svc.client.post("/v1/contacts", json={"email": "lost@example.com"}, headers=h).status_code == 201
    assert _counts(svc, "a") == (1, 1)


def test_an_error_after_the_queued_insert_rolls_back_both(svc: ServiceHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    from crm_events.outbox import Outbox

    original = Outbox.emit

    def emit_then_fail(self: Outbox, *args: Any, **kwargs: Any) -> Any:
        original(self, *args, **kwargs)
        raise RuntimeError("boom after the event was queued")

    monkeypatch.setattr(Outbox, "emit", emit_then_fail)
    svc.app.testing = False  # a 500 answer rather than the exception in the test
    resp = svc.client.post("/v1/contacts", json={"email": "boom@example.com"}, headers=svc.headers("a"))
    assert resp.status_code == 500
    monkeypatch.undo()
    assert _counts(svc, "a") == (0, 0)


def test_a_deferred_write_is_sent_before_the_next_statement(svc: ServiceHarness) -> None:
    """A transaction reads its own queued writes: they go out before whatever it sends next."""
    outbox = event_tables(svc.metadata).outbox
    tenant = svc.tenant("a")
    with context.tenant_context(tenant), svc.db.transaction() as s:
        tenancy.defer(s, insert(outbox).inline(), {"tenant_id": tenant, "event_id": uuid.uuid4(), "event_type": "x.y",
                                                   "topic": "t", "key": "k1", "payload": "{}"})
        assert s.scalar(select(outbox.c.key).where(outbox.c.key == "k1")) == "k1"  # Core, before the commit
        tenancy.defer(s, insert(outbox).inline(), {"tenant_id": tenant, "event_id": uuid.uuid4(), "event_type": "x.y",
                                                   "topic": "t", "key": "k2", "payload": "{}"})
        assert s.scalars(select(Contact.id)).all() == []  # an ORM statement flushes them too
    with svc.db.transaction() as s:
        assert sorted(s.scalars(select(outbox.c.key).where(outbox.c.key.in_(["k1", "k2"])))) == ["k1", "k2"]
    # Queued and then rolled back: never sent, and not left on the pooled connection.
    with pytest.raises(RuntimeError), context.tenant_context(tenant), svc.db.transaction() as s:
        tenancy.defer(s, insert(outbox).inline(), {"tenant_id": tenant, "event_id": uuid.uuid4(), "event_type": "x.y",
                                                   "topic": "t", "key": "k3", "payload": "{}"})
        raise RuntimeError("abandon")
    with svc.db.transaction() as s:
        assert s.scalar(select(outbox.c.key).where(outbox.c.key == "k3")) is None
