"""update_record, add_tags / remove_tags and assign_owner against the real services (PostgreSQL,
RLS): the effect through the API, idempotent repeats, a concurrent edit (412) retried, previews
that change nothing, and another tenant's record left alone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from workflow_action_helpers import Steps, Tenant, automation_db

from automation.workflows.actions import actions
from automation.workflows.client import ServiceApi
from automation.workflows.steps import StepError, Writes
from crm_testing.platform import Platform

pytestmark = pytest.mark.integration

ACTIONS = actions()
UPDATE, ADD, REMOVE = ACTIONS["update_record"], ACTIONS["add_tags"], ACTIONS["remove_tags"]
U1, U2, U3 = (f"0190a0e0-0000-7000-8000-00000000010{i}" for i in (1, 2, 3))


class RacingApi:
    """The services' APIs, with someone else's edit landing just before this step's first PATCH."""

    def __init__(self, api: ServiceApi, edit: Callable[[], None]) -> None:
        self.api, self.edit, self.patches = api, edit, 0

    def request(self, *args: Any, **kwargs: Any) -> Any:
        if args[2] == "PATCH":
            self.patches += 1
            if self.patches == 1:
                self.edit()
        return self.api.request(*args, **kwargs)

    def record(self, *args: Any) -> Any:
        return self.api.record(*args)


def test_update_record_sets_fields_and_custom_fields_from_templates(tenant_a: Tenant, steps: Steps) -> None:
    tenant_a.ok("POST", "/v1/properties/contacts", {"key": "plan", "label": "Plan", "type": "text"})
    contact = tenant_a.contact(lifecycle_stage="lead")
    step = {"fields": {"lifecycle_stage": "customer", "last_name": "{{ record.last_name|upper }}",
                       "plan": "pro-{{ trigger.data.seats }}"}}
    ctx = steps.ctx("contact", contact["id"], trigger={"data": {"seats": 5}})

    out = UPDATE.run(ctx, step)
    UPDATE.run(steps.ctx("contact", contact["id"], run_id=ctx.run_id, trigger={"data": {"seats": 5}}), step)

    after = tenant_a.ok("GET", f"/v1/contacts/{contact['id']}")
    assert (after["lifecycle_stage"], after["last_name"], after["properties"]) == ("customer", "LOVELACE", {"plan": "pro-5"})
    assert out["fields"] == {"lifecycle_stage": "customer", "last_name": "LOVELACE", "properties": {"plan": "pro-5"}}
    assert after["first_name"] == "Ada"
    assert UPDATE.writes(step, "contact") == Writes(frozenset({"crm.contact.updated"}),
                                                    frozenset({"lifecycle_stage", "last_name", "plan"}))


def test_update_record_of_the_linked_company_a_deal_and_a_ticket(tenant_a: Tenant, steps: Steps) -> None:
    company = tenant_a.ok("POST", "/v1/companies", {"name": "Engines"})
    contact = tenant_a.contact(company_id=company["id"])
    UPDATE.run(steps.ctx("contact", contact["id"]), {"record": "company", "fields": {"industry": "Computing"}})
    assert tenant_a.ok("GET", f"/v1/companies/{company['id']}")["industry"] == "Computing"

    deal = tenant_a.ok("POST", "/v1/deals", {"name": "Deal", "contact_id": contact["id"]})
    UPDATE.run(steps.ctx("deal", deal["id"]), {"fields": {"probability": 80, "name": "{{ record.name }} (hot)"}})
    moved = tenant_a.ok("GET", f"/v1/deals/{deal['id']}")
    assert (moved["probability"], moved["name"]) == (80, "Deal (hot)")
    UPDATE.run(steps.ctx("deal", deal["id"]), {"record": "contact", "fields": {"lead_status": "connected"}})
    assert tenant_a.ok("GET", f"/v1/contacts/{contact['id']}")["lead_status"] == "connected"

    ticket = tenant_a.ok("POST", "/v1/tickets", {"subject": "Help", "contact_id": contact["id"]})
    UPDATE.run(steps.ctx("ticket", ticket["id"]), {"fields": {"priority": "urgent", "status": "pending"}})
    assert {k: tenant_a.ok("GET", f"/v1/tickets/{ticket['id']}")[k] for k in ("priority", "status")} == \
        {"priority": "urgent", "status": "pending"}
    assert UPDATE.writes({"fields": {"status": "open"}}, "ticket").event_types == \
        {"crm.ticket.updated", "crm.ticket.status_changed"}
    assert UPDATE.writes({"fields": {"stage_id": "x"}}, "deal").event_types == \
        {"crm.deal.updated", "crm.deal.changed", "crm.deal.stage_changed"}


def test_update_record_refusals_fail_the_step_at_once(tenant_a: Tenant, steps: Steps) -> None:
    company = tenant_a.ok("POST", "/v1/companies", {"name": "Solo"})
    contact = tenant_a.contact()
    with pytest.raises(StepError) as unknown:  # no such custom field: the service's 422
        UPDATE.run(steps.ctx("contact", contact["id"]), {"fields": {"no_such_field": "x"}})
    assert not unknown.value.retryable and "HTTP 422" in unknown.value.message
    with pytest.raises(StepError) as no_company:
        UPDATE.run(steps.ctx("contact", contact["id"]), {"record": "company", "fields": {"industry": "x"}})
    assert not no_company.value.retryable and "no company" in no_company.value.message
    with pytest.raises(StepError) as none_linked:
        UPDATE.run(steps.ctx("company", company["id"]), {"record": "contact", "fields": {"first_name": "x"}})
    assert not none_linked.value.retryable
    assert tenant_a.ok("GET", f"/v1/contacts/{contact['id']}")["version"] == contact["version"]


def test_update_record_of_another_tenants_record_changes_nothing(tenant_a: Tenant, tenant_b: Tenant, steps: Steps) -> None:
    theirs = tenant_b.contact()
    for action, params in ((UPDATE, {"fields": {"first_name": "Mallory"}}), (ADD, {"tags": ["pwned"]}),
                           (ACTIONS["assign_owner"], {"users": [U1], "method": "least_loaded"})):
        with pytest.raises(StepError) as failed:
            action.run(steps.ctx("contact", theirs["id"]), params)
        assert not failed.value.retryable
    after = tenant_b.ok("GET", f"/v1/contacts/{theirs['id']}")
    assert (after["first_name"], after["tags"], after["owner_id"], after["version"]) == \
        ("Ada", [], tenant_b.user_id, theirs["version"])


def test_update_record_preview_changes_nothing(tenant_a: Tenant, steps: Steps) -> None:
    contact = tenant_a.contact()
    shown = UPDATE.preview(steps.ctx("contact", contact["id"]), {"fields": {"first_name": "{{ record.first_name }}!"}})
    assert shown["fields"] == {"first_name": "Ada!"}
    assert shown["request"]["method"] == "PATCH" and shown["request"]["path"] == f"/v1/contacts/{contact['id']}"
    assert tenant_a.ok("GET", f"/v1/contacts/{contact['id']}")["version"] == contact["version"]


def test_add_and_remove_tags_keep_the_others_and_repeat_harmlessly(tenant_a: Tenant, steps: Steps) -> None:
    contact = tenant_a.contact(tags=["vip"], lifecycle_stage="lead")
    step = {"tags": ["new", "{{ record.lifecycle_stage }}", "VIP"]}
    ctx = steps.ctx("contact", contact["id"])
    first = ADD.run(ctx, step)
    again = ADD.run(steps.ctx("contact", contact["id"], run_id=ctx.run_id), step)
    assert first["tags"] == again["tags"] == ["vip", "new", "lead"]
    assert (first["changed"], again["changed"]) == (True, False)
    assert ADD.writes(step, "contact") == Writes(frozenset({"crm.contact.updated"}), frozenset({"tags"}))

    removed = REMOVE.run(steps.ctx("contact", contact["id"]), {"tags": ["Lead", "absent"]})
    assert removed["tags"] == ["vip", "new"]
    assert tenant_a.ok("GET", f"/v1/contacts/{contact['id']}")["tags"] == ["vip", "new"]


def test_add_tags_retries_a_concurrent_edit_and_keeps_it(tenant_a: Tenant, steps: Steps) -> None:
    contact = tenant_a.contact(tags=["a"])
    edit = lambda: tenant_a.ok("PATCH", f"/v1/contacts/{contact['id']}", {"tags": ["a", "by-hand"], "first_name": "Ava"})  # noqa: E731
    racing = RacingApi(steps.api, edit)
    ctx = steps.ctx("contact", contact["id"])
    ctx.api = racing  # type: ignore[assignment]
    out = ADD.run(ctx, {"tags": ["by-workflow"]})
    assert racing.patches == 2  # the first PATCH got 412 (If-Match) and was worked out again
    after = tenant_a.ok("GET", f"/v1/contacts/{contact['id']}")
    assert after["tags"] == out["tags"] == ["a", "by-hand", "by-workflow"]
    assert after["first_name"] == "Ava"


def test_tags_on_tickets_and_companies_not_on_deals(tenant_a: Tenant, steps: Steps) -> None:
    ticket = tenant_a.ok("POST", "/v1/tickets", {"subject": "Slow", "requester_email": "sam@example.com"})
    assert ADD.run(steps.ctx("ticket", ticket["id"]), {"tags": ["Escalated"]})["tags"] == ["escalated"]
    company = tenant_a.ok("POST", "/v1/companies", {"name": "Tagged", "tags": ["x"]})
    assert REMOVE.run(steps.ctx("company", company["id"]), {"tags": ["x"]})["tags"] == []
    deal = tenant_a.ok("POST", "/v1/deals", {"name": "No tags"})
    with pytest.raises(StepError) as failed:
        ADD.run(steps.ctx("deal", deal["id"]), {"tags": ["x"]})
    assert not failed.value.retryable


def test_tags_preview_changes_nothing(tenant_a: Tenant, steps: Steps) -> None:
    contact = tenant_a.contact(tags=["a"])
    shown = ADD.preview(steps.ctx("contact", contact["id"]), {"tags": ["b"]})
    assert (shown["tags"], shown["changed"]) == (["a", "b"], True)
    assert tenant_a.ok("GET", f"/v1/contacts/{contact['id']}")["tags"] == ["a"]


def test_assign_owner_round_robin_goes_round_and_a_retry_keeps_its_choice(wf_platform: Platform, tenant_a: Tenant,
                                                                          steps: Steps) -> None:
    db = automation_db(wf_platform)
    try:
        assign = actions(db=db)["assign_owner"]
        step = {"users": [U1, U2, U3], "method": "round_robin"}
        contacts = [tenant_a.contact(owner_id=None) for _ in range(4)]
        chosen = []
        for contact in contacts:
            ctx = steps.ctx("contact", contact["id"])
            chosen.append(assign.run(ctx, step)["owner_id"])
            # The same step run again (a worker died after the PATCH): the same user, the cursor stays.
            assert assign.run(steps.ctx("contact", contact["id"], run_id=ctx.run_id), step)["owner_id"] == chosen[-1]
        assert chosen == [U1, U2, U3, U1]
        assert [tenant_a.ok("GET", f"/v1/contacts/{c['id']}")["owner_id"] for c in contacts] == chosen
        # Another step of the workflow keeps its own place; a preview does not move it.
        other = steps.ctx("contact", contacts[0]["id"], step_id="second")
        assert assign.preview(other, step)["owner_id"] == U1
        assert assign.run(other, step)["owner_id"] == U1
        assert assign.preview(steps.ctx("contact", contacts[0]["id"]), step)["owner_id"] == U2
    finally:
        db.dispose()


def test_assign_owner_least_loaded_counts_open_records(tenant_a: Tenant, steps: Steps) -> None:
    assign = ACTIONS["assign_owner"]
    pipeline = tenant_a.ok("GET", "/v1/pipelines")["data"][0]
    won = next(s for s in pipeline["stages"] if s["kind"] == "won")
    for owner, stage in ((U1, None), (U1, None), (U2, None), (U3, won), (U3, won), (U3, won)):
        tenant_a.ok("POST", "/v1/deals", {"name": "D", "owner_id": owner, **({"stage_id": stage["id"]} if stage else {})})
    deal = tenant_a.ok("POST", "/v1/deals", {"name": "To assign"})
    out = assign.run(steps.ctx("deal", deal["id"]), {"users": [U1, U2, U3], "method": "least_loaded"})
    assert out["owner_id"] == U3  # won deals are not open
    assert tenant_a.ok("GET", f"/v1/deals/{deal['id']}")["owner_id"] == U3
    # The record being assigned does not count against its current owner.
    again = assign.run(steps.ctx("deal", deal["id"]), {"users": [U2, U3], "method": "least_loaded"})
    assert again["owner_id"] == U3

    ticket = tenant_a.ok("POST", "/v1/tickets", {"subject": "Q", "requester_email": "q@example.com"})
    tenant_a.ok("POST", "/v1/tickets", {"subject": "Busy", "requester_email": "q@example.com", "assignee_id": U1})
    shown = assign.preview(steps.ctx("ticket", ticket["id"]), {"users": [U1, U2], "method": "least_loaded"})
    assert shown["assignee_id"] == U2
    assert tenant_a.ok("GET", f"/v1/tickets/{ticket['id']}")["assignee_id"] is None
    assert assign.run(steps.ctx("ticket", ticket["id"]), {"users": [U1, U2], "method": "least_loaded"})["assignee_id"] == U2


def test_a_contact_merged_away_is_changed_where_it_lives_now(tenant_a: Tenant, steps: Steps) -> None:
    survivor, duplicate = tenant_a.contact(tags=["kept"]), tenant_a.contact()
    tenant_a.ok("POST", "/v1/contacts/merge", {"primary_id": survivor["id"], "secondary_id": duplicate["id"]})
    # A run that started on the duplicate: reads answer the survivor, writes go to it.
    UPDATE.run(steps.ctx("contact", duplicate["id"]), {"fields": {"lead_status": "new"}})
    ADD.run(steps.ctx("contact", duplicate["id"]), {"tags": ["merged"]})
    ACTIONS["assign_owner"].run(steps.ctx("contact", duplicate["id"]), {"users": [U2], "method": "least_loaded"})
    after = tenant_a.ok("GET", f"/v1/contacts/{survivor['id']}")
    assert (after["lead_status"], after["tags"], after["owner_id"]) == ("new", ["kept", "merged"], U2)
