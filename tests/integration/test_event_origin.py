"""Every event says where its change came from (`origin`) and which workflow runs caused it
(`causation`), on PostgreSQL and a real Kafka broker with the services' own worker processes:

- a workflow's token (the `workflow` principal, as automation.workflows.client mints it) with the
  origin and causation headers: its events carry origin "workflow" and that chain;
- the same headers with a user's or an API key's token mean nothing; through the gateway they
  never even arrive;
- a CSV import's records say "import";
- a consumer's follow-on write keeps the chain: a ticket a workflow opens for an unknown address
  makes the contacts worker create the requester's contact, and that event names the same runs;
- the workflow principal (no user, no API key, every scope) can do what workflow steps do on the
  ordinary record routes, and no tenant administration.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kafka import KafkaConsumer, TopicPartition

from crm_core.context import WORKFLOW_ROLE, Principal
from crm_core.internal_token import CAUSATION_HEADER, HEADER, ORIGIN_HEADER, InternalTokenSigner
from crm_core.scopes import ALL_SCOPES
from crm_events.kafka_log import ensure_topics
from crm_testing.platform import Platform, start_platform

pytestmark = pytest.mark.integration

CONTACTS_TOPIC, TICKETS_TOPIC = "crm.contacts.contact", "crm.tickets.ticket"
Events = list[dict[str, Any]]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, pg_admin_url: str, kafka_bootstrap: str) -> Iterator[Platform]:
    started = start_platform(Path(tmp_path_factory.mktemp("origin")), pg_admin_url=pg_admin_url,
                             kafka_bootstrap=kafka_bootstrap, only={"contacts", "tickets", "pipeline"})
    ensure_topics(kafka_bootstrap, [started.topic_prefix + t for t in (CONTACTS_TOPIC, TICKETS_TOPIC)])
    started.start_workers()  # `python -m <svc> worker`: relays, consumers, the import job runner
    yield started
    started.close()


class TopicReader:
    """The platform's contact and ticket events from the offsets they had when it was made."""

    def __init__(self, platform: Platform, bootstrap: str) -> None:
        self.prefix = platform.topic_prefix
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
        partitions = []
        for topic in (self.prefix + CONTACTS_TOPIC, self.prefix + TICKETS_TOPIC):
            deadline = time.monotonic() + 30
            while not (found := self.consumer.partitions_for_topic(topic)) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert found, f"topic {topic} has no partitions"
            partitions += [TopicPartition(topic, p) for p in sorted(found)]
        self.consumer.assign(partitions)
        for tp, offset in self.consumer.end_offsets(partitions).items():
            self.consumer.seek(tp, offset)
        self.events: Events = []

    def until(self, tenant: str, done: Callable[[Events], bool], timeout: float = 60.0) -> Events:
        """This tenant's events read so far once `done(events)` holds."""
        deadline = time.monotonic() + timeout
        while not done(mine := [e for e in self.events if e["tenant_id"] == tenant]):
            assert time.monotonic() < deadline, f"timed out; got {[(e['type'], e['origin']) for e in mine]}"
            for records in self.consumer.poll(timeout_ms=500).values():
                self.events += [json.loads(r.value) for r in records]
        return mine

    def close(self) -> None:
        self.consumer.close()


@pytest.fixture
def reader(platform: Platform, kafka_bootstrap: str) -> Iterator[TopicReader]:
    made = TopicReader(platform, kafka_bootstrap)
    yield made
    made.close()


def _of(events: Events, subject: str, event_type: str | None = None) -> Events:
    return [e for e in events if e["subject"] == subject and (event_type is None or e["type"] == event_type)]


def _has(subject: str, event_type: str) -> Callable[[Events], bool]:
    return lambda events: bool(_of(events, subject, event_type))


class Direct:
    """Calls a service as another signer of internal tokens would (the automation worker), on its own URL."""

    def __init__(self, platform: Platform, tenant: str) -> None:
        self.platform, self.tenant = platform, uuid.UUID(tenant)
        self.signer = InternalTokenSigner.from_pem(platform.services["contacts"].settings.internal_private_key or "")
        self.http = urllib3.PoolManager()

    def call(self, principal: Principal, service: str, method: str, path: str, body: Any,
             headers: dict[str, str] | None = None, status: tuple[int, ...] = (200, 201)) -> Any:
        resp = self.http.request(method, self.platform.services[service].url + path, json=body, retries=False,
                                 headers={HEADER: self.signer.mint(principal, service), **(headers or {})})
        assert resp.status in status, (method, path, resp.status, resp.data)
        return resp.json() if resp.data else None

    def workflow(self) -> Principal:
        return Principal(self.tenant, roles=(WORKFLOW_ROLE,), scopes=ALL_SCOPES)

    def user(self) -> Principal:
        return Principal(self.tenant, user_id=uuid.uuid4(), roles=("member",), scopes=ALL_SCOPES)

    def api_key(self) -> Principal:
        return Principal(self.tenant, api_key_id=uuid.uuid4(), roles=("api_key",), scopes=ALL_SCOPES)


def _chain(n: int = 2) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


def _workflow_headers(chain: list[str]) -> dict[str, str]:
    return {ORIGIN_HEADER: "workflow", CAUSATION_HEADER: ",".join(chain)}


def test_a_workflows_writes_carry_its_origin_and_chain(platform: Platform, reader: TopicReader) -> None:
    tenant = platform.signup("Workflow Co")["tenant"]["id"]
    api, chain = Direct(platform, tenant), _chain(3)
    contact = api.call(api.workflow(), "contacts", "POST", "/v1/contacts", {"email": "wf@example.com"}, _workflow_headers(chain))
    api.call(api.workflow(), "contacts", "PATCH", f"/v1/contacts/{contact['id']}", {"tags": ["called"]},
             _workflow_headers(chain[:1]))
    # without the origin header, or with a malformed chain: still the workflow's, with what holds up of the chain
    bare = api.call(api.workflow(), "contacts", "POST", "/v1/contacts", {"email": "bare@example.com"})
    odd = api.call(api.workflow(), "contacts", "POST", "/v1/contacts", {"email": "odd@example.com"},
                   {ORIGIN_HEADER: "workflow", CAUSATION_HEADER: f"{chain[0]},not-a-run,{'9' * 500}"})
    events = reader.until(tenant, lambda es: all(_of(es, c["id"]) for c in (bare, odd))
                          and len(_of(es, contact["id"])) == 2)
    created, updated = (_of(events, contact["id"], t)[0] for t in ("crm.contact.created", "crm.contact.updated"))
    assert (created["origin"], created["causation"], created["actor_id"]) == ("workflow", chain, None)
    assert (updated["origin"], updated["causation"]) == ("workflow", chain[:1])
    assert [(e["origin"], e["causation"]) for e in _of(events, bare["id"])] == [("workflow", None)]
    assert [(e["origin"], e["causation"]) for e in _of(events, odd["id"])] == [("workflow", [chain[0]])]


def test_the_headers_mean_nothing_from_a_user_or_an_api_key(platform: Platform, reader: TopicReader) -> None:
    account = platform.signup("Forger Co")
    tenant, token = account["tenant"]["id"], account["access_token"]
    api, forged = Direct(platform, tenant), _workflow_headers(_chain())
    as_user = api.call(api.user(), "contacts", "POST", "/v1/contacts", {"email": "u@example.com"}, forged)
    as_key = api.call(api.api_key(), "contacts", "POST", "/v1/contacts", {"email": "k@example.com"}, forged)
    # Through the gateway: a client's x-internal-* headers (any spelling) are dropped before the service.
    sneaky = {**forged, "X_Internal_Causation": forged[CAUSATION_HEADER], "x-internal-origin": "workflow"}
    key = platform.request("POST", "/v1/api-keys", {"name": "ci", "scopes": ["contacts:write", "contacts:read"]},
                           token=token).json()["key"]
    via_gateway = {}
    for name, bearer in (("user", token), ("api", key)):
        resp = platform.request("POST", "/v1/contacts", {"email": f"gw-{name}@example.com"}, token=bearer, headers=sneaky)
        assert resp.status == 201, resp.data
        via_gateway[name] = resp.json()["id"]
    subjects = {"user": [as_user["id"], via_gateway["user"]], "api": [as_key["id"], via_gateway["api"]]}
    events = reader.until(tenant, lambda es: all(_of(es, s) for ids in subjects.values() for s in ids))
    for origin, ids in subjects.items():
        for subject in ids:
            assert [(e["origin"], e["causation"]) for e in _of(events, subject)] == [(origin, None)], subject


def test_an_imports_records_say_import(platform: Platform, reader: TopicReader) -> None:
    account = platform.signup("Import Co")
    tenant, token = account["tenant"]["id"], account["access_token"]
    csv = "email,first_name\n" + "".join(f"imp{i}@example.com,Imp{i}\n" for i in range(3))
    resp = platform.http.request("POST", platform.gateway_url + "/v1/imports", retries=False,
                                 fields={"object": "contacts", "file": ("people.csv", csv.encode(), "text/csv")},
                                 headers={"Authorization": f"Bearer {token}", **_workflow_headers(_chain())})
    assert resp.status == 202, resp.data
    events = reader.until(tenant, lambda es: len([e for e in es if e["type"] == "crm.contact.created"]) == 3)
    assert {(e["origin"], e["causation"]) for e in events if e["type"] == "crm.contact.created"} == {("import", None)}


def test_a_consumers_follow_on_write_keeps_the_chain(platform: Platform, reader: TopicReader) -> None:
    """tickets (the workflow's write) -> Kafka -> the contacts worker's requester consumer -> a new
    contact, whose event names the runs that opened the ticket; a person's ticket causes none."""
    tenant = platform.signup("Chain Co")["tenant"]["id"]
    api, chain = Direct(platform, tenant), _chain(2)
    by_workflow = api.call(api.workflow(), "tickets", "POST", "/v1/tickets",
                           {"subject": "Help", "requester_email": "chain@example.com"}, _workflow_headers(chain))
    by_person = api.call(api.user(), "tickets", "POST", "/v1/tickets",
                         {"subject": "Help", "requester_email": "person@example.com"}, _workflow_headers(chain))

    def requester(events: Events, email: str) -> Events:
        return [e for e in events if e["type"] == "crm.contact.created" and e["data"].get("email") == email]

    events = reader.until(tenant, lambda es: bool(requester(es, "chain@example.com") and requester(es, "person@example.com")))
    ticket = _of(events, by_workflow["id"], "crm.ticket.created")[0]
    assert (ticket["origin"], ticket["causation"]) == ("workflow", chain)
    (follow_on,) = requester(events, "chain@example.com")
    assert (follow_on["source"], follow_on["data"]["source"]) == ("contacts", "ticket")
    assert (follow_on["origin"], follow_on["causation"]) == ("workflow", chain)
    assert _of(events, by_person["id"], "crm.ticket.created")[0]["origin"] == "user"
    (from_person,) = requester(events, "person@example.com")
    assert (from_person["origin"], from_person["causation"]) == ("system", None)


def test_a_workflow_can_do_what_its_steps_do_and_no_administration(platform: Platform) -> None:
    account = platform.signup("Steps Co")
    tenant, token = account["tenant"]["id"], account["access_token"]
    api, owner = Direct(platform, tenant), account["user"]["id"]
    wf = api.workflow()
    pipeline = platform.request("POST", "/v1/pipelines", {"name": "Sales", "stages": [
        {"name": "Lead", "probability": 10}, {"name": "Won", "probability": 100, "kind": "won"}]}, token=token).json()
    lead, won = (s["id"] for s in pipeline["stages"])

    def step(service: str, method: str, path: str, body: Any, key: str | None = None, **kw: Any) -> Any:
        return api.call(wf, service, method, path, body, {**_workflow_headers(_chain(1)),
                                                          **({"Idempotency-Key": key} if key else {})}, **kw)

    contact = step("contacts", "POST", "/v1/contacts", {"email": "steps@example.com", "owner_id": owner})
    company = step("contacts", "POST", "/v1/companies", {"name": "Acme", "domain": "acme.example"})
    assert step("contacts", "PATCH", f"/v1/contacts/{contact['id']}",
                {"tags": ["called-workflow"], "company_id": company["id"]})["tags"] == ["called-workflow"]
    assert step("contacts", "PATCH", f"/v1/companies/{company['id']}", {"industry": "Tools"})["industry"] == "Tools"
    # create_deal and update_record of a deal; an action retried under its idempotency key (run id:step id) is one deal
    run_step = f"{uuid.uuid4()}:deal"
    deal = step("pipeline", "POST", "/v1/deals", {"name": "Big", "pipeline_id": pipeline["id"], "stage_id": lead,
                                                  "contact_id": contact["id"], "owner_id": owner}, run_step)
    again = step("pipeline", "POST", "/v1/deals", {"name": "Big", "pipeline_id": pipeline["id"], "stage_id": lead,
                                                   "contact_id": contact["id"], "owner_id": owner}, run_step)
    assert again["id"] == deal["id"]
    assert step("pipeline", "PATCH", f"/v1/deals/{deal['id']}", {"stage_id": won})["stage_id"] == won
    task = step("pipeline", "POST", "/v1/tasks", {"title": "Call Ada", "deal_id": deal["id"], "assignee_id": owner})
    assert task["assignee_id"] == owner
    # unassigned, a task is its creator's; a workflow is nobody, so the step must name the assignee (the owner)
    assert step("pipeline", "POST", "/v1/tasks", {"title": "Nobody's", "deal_id": deal["id"]})["assignee_id"] is None
    ticket = step("tickets", "POST", "/v1/tickets", {"subject": "Help", "requester_email": "steps@example.com"})
    assert step("tickets", "PATCH", f"/v1/tickets/{ticket['id']}", {"priority": "high", "assignee_id": owner})["priority"] == "high"
    # Tenant administration needs an owner or admin (or an API key granted `admin`): never a workflow.
    for service, method, path, body in (
            ("contacts", "POST", "/v1/properties/contacts", {"key": "plan", "label": "Plan", "type": "text"}),
            ("contacts", "PATCH", "/v1/settings/contacts", {}),
            ("contacts", "POST", f"/v1/contacts/{contact['id']}/erase", {}),
            ("pipeline", "PATCH", "/v1/settings/pipeline", {}),
            ("tickets", "PATCH", "/v1/settings/tickets", {}),
            ("tickets", "POST", "/v1/teams", {"name": "Support"})):
        problem = step(service, method, path, body, status=(403,))
        assert problem["required_scope"] == "admin", (path, problem)
    # A user's own things (notifications, agenda, saved views): a workflow has none.
    for service, path in (("pipeline", "/v1/notifications"), ("pipeline", "/v1/tasks/agenda"),
                          ("contacts", "/v1/saved-views")):
        step(service, "GET", path, None, status=(403,))
