"""create_task and create_deal against the real services (PostgreSQL, RLS): the effect through the
API, one record however often a step runs, nothing for a preview, nothing across tenants."""

from __future__ import annotations

import datetime as dt

import pytest
from workflow_action_helpers import NOW, Steps, Tenant

from automation.workflows.actions import actions
from automation.workflows.steps import StepError

pytestmark = pytest.mark.integration

ACTIONS = actions()
CREATE_TASK, CREATE_DEAL = ACTIONS["create_task"], ACTIONS["create_deal"]
TASK = {"title": "Call {{ record.first_name }} ({{ trigger.source }})", "notes": "Lead from {{ record.email }}",
        "due_in_days": 1, "priority": "high"}


def _tasks(tenant: Tenant, **filters: str) -> list[dict]:
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    return tenant.ok("GET", f"/v1/tasks?{query}")["data"]


def test_create_task_links_the_record_renders_and_is_made_once(tenant_a: Tenant, steps: Steps) -> None:
    company = tenant_a.ok("POST", "/v1/companies", {"name": "Analytical Engines"})
    contact = tenant_a.contact(company_id=company["id"])
    ctx = steps.ctx("contact", contact["id"], trigger={"source": "web form"})

    first = CREATE_TASK.run(ctx, TASK)
    again = CREATE_TASK.run(steps.ctx("contact", contact["id"], run_id=ctx.run_id, trigger={"source": "web form"}), TASK)

    tasks = _tasks(tenant_a, contact_id=contact["id"])
    assert len(tasks) == 1
    task = tasks[0]
    assert first["task_id"] == again["task_id"] == task["id"]
    assert task["title"] == "Call Ada (web form)"
    assert task["notes"] == f"Lead from {contact['email']}"
    assert task["company_id"] == company["id"] and task["deal_id"] is None
    assert task["assignee_id"] == tenant_a.user_id  # the contact's owner
    assert task["priority"] == "high"
    assert dt.datetime.fromisoformat(task["due_at"].replace("Z", "+00:00")) == NOW + dt.timedelta(days=1)

    # A retry after the record changed sends another body under the same key: the task exists already.
    tenant_a.ok("PATCH", f"/v1/contacts/{contact['id']}", {"first_name": "Augusta"})
    later = CREATE_TASK.run(steps.ctx("contact", contact["id"], run_id=ctx.run_id, trigger={"source": "web form"}), TASK)
    assert later["created_by_earlier_attempt"] is True and later["title"] == "Call Augusta (web form)"
    assert len(_tasks(tenant_a, contact_id=contact["id"])) == 1


def test_create_task_on_a_deal_and_a_ticket_with_an_assignee(tenant_a: Tenant, steps: Steps) -> None:
    contact = tenant_a.contact()
    deal = tenant_a.ok("POST", "/v1/deals", {"name": "Big one", "contact_id": contact["id"]})
    ticket = tenant_a.ok("POST", "/v1/tickets", {"subject": "Broken", "contact_id": contact["id"]})
    someone = "0190a0e0-0000-7000-8000-000000000001"

    CREATE_TASK.run(steps.ctx("deal", deal["id"]), {"title": "Follow up {{ record.name }}", "due_in_hours": 4,
                                                    "assignee": someone})
    CREATE_TASK.run(steps.ctx("ticket", ticket["id"]), {"title": "Check #{{ record.number }}"})

    (on_deal,) = _tasks(tenant_a, deal_id=deal["id"])
    assert on_deal["title"] == "Follow up Big one" and on_deal["contact_id"] == contact["id"]
    assert on_deal["assignee_id"] == someone
    assert on_deal["due_at"] == (NOW + dt.timedelta(hours=4)).isoformat().replace("+00:00", "Z")
    (on_ticket,) = _tasks(tenant_a, ticket_id=ticket["id"])
    assert on_ticket["title"] == f"Check #{ticket['number']}" and on_ticket["due_at"] is None
    assert on_ticket["assignee_id"] is None  # the ticket has no assignee


def test_create_task_preview_changes_nothing(tenant_a: Tenant, steps: Steps) -> None:
    contact = tenant_a.contact()
    shown = CREATE_TASK.preview(steps.ctx("contact", contact["id"], dry_run=True), TASK)
    assert shown["task"]["title"] == "Call Ada ()"
    assert shown["request"] == {"service": "pipeline", "method": "POST", "path": "/v1/tasks", "body": shown["task"]}
    assert _tasks(tenant_a, contact_id=contact["id"]) == []


def test_create_task_for_another_tenants_record_fails_and_changes_nothing(tenant_a: Tenant, tenant_b: Tenant,
                                                                         steps: Steps) -> None:
    theirs = tenant_b.contact()
    ctx = steps.ctx("contact", theirs["id"])  # tenant A's run naming B's contact
    assert ctx.record is None
    with pytest.raises(StepError) as failed:
        CREATE_TASK.run(ctx, TASK)
    assert not failed.value.retryable and "not found" in failed.value.message
    assert _tasks(tenant_b, contact_id=theirs["id"]) == []
    assert _tasks(tenant_a, contact_id=theirs["id"]) == []


def test_create_deal_from_a_contact_once_with_the_base_currency(tenant_a: Tenant, steps: Steps) -> None:
    company = tenant_a.ok("POST", "/v1/companies", {"name": "Difference Ltd"})
    contact = tenant_a.contact(company_id=company["id"])
    step = {"title": "Renewal for {{ record.last_name }}", "amount": "{{ trigger.data.amount }}"}
    ctx = steps.ctx("contact", contact["id"], trigger={"data": {"amount": "1,250.5"}})

    first = CREATE_DEAL.run(ctx, step)
    again = CREATE_DEAL.run(steps.ctx("contact", contact["id"], run_id=ctx.run_id, trigger={"data": {"amount": "1,250.5"}}), step)

    deals = tenant_a.ok("GET", f"/v1/deals?contact_id={contact['id']}")["data"]
    assert len(deals) == 1
    deal = deals[0]
    assert first["deal_id"] == again["deal_id"] == deal["id"]
    base = tenant_a.ok("GET", "/v1/settings/pipeline")["base_currency"]
    assert deal["name"] == "Renewal for Lovelace"
    assert deal["amount"] == {"amount": "1250.50", "currency": base}
    assert deal["company_id"] == company["id"] and deal["owner_id"] == tenant_a.user_id
    assert deal["status"] == "open"


def test_create_deal_in_a_stage_with_its_currency_and_owner(tenant_a: Tenant, steps: Steps) -> None:
    contact = tenant_a.contact()
    pipeline = tenant_a.ok("GET", "/v1/pipelines")["data"][0]
    stage = pipeline["stages"][1]
    owner = "0190a0e0-0000-7000-8000-000000000002"
    step = {"title": "Upsell", "pipeline_id": pipeline["id"], "stage_id": stage["id"], "amount": 99, "currency": "usd",
            "owner": owner}
    out = CREATE_DEAL.run(steps.ctx("contact", contact["id"]), step)
    deal = tenant_a.ok("GET", f"/v1/deals/{out['deal_id']}")
    assert (deal["pipeline_id"], deal["stage_id"], deal["owner_id"]) == (pipeline["id"], stage["id"], owner)
    assert deal["amount"] == {"amount": "99.00", "currency": "USD"}


def test_create_deal_refusals_are_not_retried(tenant_a: Tenant, tenant_b: Tenant, steps: Steps) -> None:
    contact = tenant_a.contact()
    their_pipeline = tenant_b.ok("GET", "/v1/pipelines")["data"][0]
    with pytest.raises(StepError) as failed:  # another tenant's pipeline does not exist here: a 422
        CREATE_DEAL.run(steps.ctx("contact", contact["id"]), {"title": "X", "pipeline_id": their_pipeline["id"]})
    assert not failed.value.retryable and "pipeline_id" in failed.value.message
    with pytest.raises(StepError) as bad_amount:
        CREATE_DEAL.run(steps.ctx("contact", contact["id"]), {"title": "X", "amount": "{{ record.first_name }}"})
    assert not bad_amount.value.retryable
    assert tenant_a.ok("GET", f"/v1/deals?contact_id={contact['id']}")["data"] == []


def test_create_deal_preview_changes_nothing(tenant_a: Tenant, steps: Steps) -> None:
    contact = tenant_a.contact()
    shown = CREATE_DEAL.preview(steps.ctx("contact", contact["id"]), {"title": "Deal for {{ record.first_name }}"})
    assert shown["deal"] == {"name": "Deal for Ada", "contact_id": contact["id"], "owner_id": tenant_a.user_id}
    assert tenant_a.ok("GET", f"/v1/deals?contact_id={contact['id']}")["data"] == []
