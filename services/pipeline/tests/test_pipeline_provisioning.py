"""The crm.tenant.created consumer: every new tenant gets one default "Sales" pipeline."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pipeline_helpers import make_deal

from crm_core.context import tenant_context
from crm_events.envelope import Event
from crm_events.log import OutgoingRecord, open_publisher, open_subscriber
from crm_events.outbox import Outbox
from crm_testing.apps import ServiceHarness, drain
from pipeline import deals
from pipeline.consumer import PROVISIONING_GROUP, TENANT_TOPIC, consumers
from pipeline.service import PipelineService, default_pipeline

SALES = [("Lead", 10, "open"), ("Qualified", 25, "open"), ("Proposal", 50, "open"), ("Negotiation", 75, "open"),
         ("Won", 100, "won"), ("Lost", 0, "lost")]


def announce_tenant(svc: ServiceHarness, tenant: uuid.UUID, company: str = "Acme") -> Event:
    """What the gateway does at signup: crm.tenant.created on crm.gateway.tenant, through an outbox."""
    with tenant_context(tenant), svc.db.transaction() as session:
        event = Outbox("gateway", svc.metadata).emit(session, "crm.tenant.created", tenant,
                                                     {"id": str(tenant), "name": company})
    svc.publish_outbox()
    return event


def redeliver(svc: ServiceHarness, event: Event) -> None:
    """The same envelope again, as the log does after a consumer crash before its commit."""
    publisher = open_publisher(svc.settings)
    publisher.publish([OutgoingRecord(TENANT_TOPIC, event.subject, event.to_json().encode(), {"event_id": event.id})])
    publisher.close()


def published(svc: ServiceHarness, topic: str) -> list[Event]:
    """What the service has published to a topic for this test's tenants, after relaying its outbox."""
    svc.publish_outbox()
    subscriber = open_subscriber(svc.settings, f"test-reader-{uuid.uuid4()}", [topic])
    tenants = {str(t) for t in svc.tenants.values()}
    try:
        return [e for e in (Event.from_json(r.value) for r in subscriber.poll(0.2)) if e.tenant_id in tenants]
    finally:
        subscriber.close()


def run_provisioning(svc: ServiceHarness) -> int:
    [spec] = [s for s in consumers(svc.settings, svc.db) if s.group == PROVISIONING_GROUP]
    assert (spec.group, spec.topics) == (PROVISIONING_GROUP, [TENANT_TOPIC])
    runner = svc.consumer(spec.group, spec.topics, spec.handlers)
    try:
        return drain(runner)
    finally:
        runner.subscriber.close()


def test_new_tenant_gets_default_pipeline_exactly_once(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    tenant = svc.tenant("new")
    event = announce_tenant(svc, tenant)
    redeliver(svc, event)
    assert run_provisioning(svc) == 2
    # a second, distinct announcement for the same tenant changes nothing either
    announce_tenant(svc, tenant)
    assert run_provisioning(svc) == 1

    listed = svc.client.get("/v1/pipelines", headers=svc.headers("new")).get_json()["data"]
    assert len(listed) == 1
    sales = listed[0]
    assert (sales["name"], sales["is_default"]) == ("Sales", True)
    assert [(s["name"], s["probability"], s["kind"]) for s in sales["stages"]] == SALES
    assert [s["position"] for s in sales["stages"]] == list(range(6))
    created = published(svc, "crm.pipeline.pipeline")
    assert [e.type for e in created] == ["crm.pipeline.created"]
    assert created[0].tenant_id == str(tenant) and created[0].data["stages"] == sales["stages"]
    # deals now land in it by default
    assert make_deal(svc, "new")["stage_id"] == sales["stages"][0]["id"]


def test_tenant_with_a_default_pipeline_is_left_alone(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    own = svc.client.post("/v1/pipelines", headers=svc.headers("early"), json={
        "name": "Mine", "is_default": True, "stages": [{"name": "Only", "probability": 50}]}).get_json()
    announce_tenant(svc, svc.tenant("early"))
    announce_tenant(svc, svc.tenant("other"))
    assert run_provisioning(svc) == 2
    early = svc.client.get("/v1/pipelines", headers=svc.headers("early")).get_json()["data"]
    assert [p["id"] for p in early] == [own["id"]]
    other = svc.client.get("/v1/pipelines", headers=svc.headers("other")).get_json()["data"]
    assert [p["name"] for p in other] == ["Sales"]


def test_first_list_after_signup_shows_the_default_pipeline_once(pipeline_service: ServiceHarness) -> None:
    """The tenant.created event may still be on its way: the first read provisions, the event then does nothing."""
    svc = pipeline_service
    h = svc.headers("fresh")
    first = svc.client.get("/v1/pipelines", headers=h).get_json()["data"]
    assert [(p["name"], p["is_default"]) for p in first] == [("Sales", True)]
    assert svc.client.get("/v1/pipelines", headers=h).get_json()["data"] == first
    announce_tenant(svc, svc.tenant("fresh"))
    assert run_provisioning(svc) == 1
    assert svc.client.get("/v1/pipelines", headers=h).get_json()["data"] == first
    assert [e.type for e in published(svc, "crm.pipeline.pipeline")] == ["crm.pipeline.created"]


def test_a_deleted_default_pipeline_is_not_provisioned_again(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    h = svc.headers("tidy")
    [sales] = svc.client.get("/v1/pipelines", headers=h).get_json()["data"]
    assert svc.client.delete(f"/v1/pipelines/{sales['id']}", headers=h).status_code == 204
    announce_tenant(svc, svc.tenant("tidy"))  # a late or redelivered event
    assert run_provisioning(svc) == 1
    # a fresh service process has no memory of the tenant: the provisioning row decides
    fresh = PipelineService(Outbox("pipeline", svc.metadata), lambda p: {})
    with tenant_context(svc.tenant("tidy")), svc.db.transaction() as session:
        assert fresh.create_default_pipeline(session, svc.tenant("tidy")) is None
    assert svc.client.get("/v1/pipelines", headers=h).get_json()["data"] == []


def test_concurrent_first_reads_provision_one_pipeline(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    h = svc.headers("rush")
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: svc.app.test_client().get("/v1/pipelines", headers=h), range(16)))
    assert {a.status_code for a in answers} == {200}
    assert {tuple(p["id"] for p in a.get_json()["data"]) for a in answers} == {
        tuple(p["id"] for p in answers[0].get_json()["data"])}
    assert len(answers[0].get_json()["data"]) == 1


def test_first_deal_while_the_default_pipeline_is_being_made_lands_in_it(pipeline_service: ServiceHarness,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A deal's first read found no default pipeline; the tenant.created consumer committed one before
    the deal's own claim (which then makes none): the deal goes into the consumer's pipeline, not a 422."""
    svc = pipeline_service
    announce_tenant(svc, svc.tenant("racing"))
    assert run_provisioning(svc) == 1
    reads: list[int] = []

    def before_the_commit_then_after(session: Any) -> Any:
        reads.append(1)
        return None if len(reads) == 1 else default_pipeline(session)

    monkeypatch.setattr(deals, "default_pipeline", before_the_commit_then_after)
    made = svc.client.post("/v1/deals", headers=svc.headers("racing"), json={"name": "First"})
    assert made.status_code == 201, made.get_json()
    [sales] = svc.client.get("/v1/pipelines", headers=svc.headers("racing")).get_json()["data"]
    assert made.get_json()["pipeline_id"] == sales["id"] and len(reads) == 2
