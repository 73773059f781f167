"""The Workflows screen in Debian's chromium: the docs' example workflow written in the editor (a
wrong field refused beside its step's field, then saved), dry-run on a lead, its run in the history
with its steps once a lead is created through the API, and the waiting run cancelled; a manual
workflow started on a contact from the console, failing at a step and retried from it; the list's
enabled switch; a webhook workflow's URL and signing secret shown once; a member told that only
owners and admins save. Every screen is checked with axe-core and photographed at 1280×800 and
390×844 into var/screenshots/."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from console_screen import PHONE, Screen
from console_screen import api as _api
from console_screen import sign_in as _sign_in

from crm_testing.platform import Platform, wait_for

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery"
EXAMPLE_TRIGGER = {"type": "event", "event": "crm.contact.created", "condition": "lifecycle_stage = 'lead'"}
EXAMPLE_STEPS = [
    {"id": "call", "type": "create_task", "title": "Call {{ record.first_name }}", "due_in_days": 1},
    {"id": "wait", "type": "delay", "minutes": 1},
    {"id": "tag", "type": "update_record", "fields": {"tags": ["called-workflow"]}},
]


@pytest.fixture(scope="module")
def account(platform: Platform) -> dict[str, Any]:
    """An owner, a member (Grace), and a disabled copy of the example to look at."""
    owner = platform.signup("Workflow Co")
    token = owner["access_token"]
    grace_email = f"grace-{uuid.uuid4().hex[:6]}@example.com"
    _api(platform, token, "POST", "/v1/users", {"email": grace_email, "name": "Grace Hopper", "role": "member", "password": PASSWORD})
    seeded = _api(platform, token, "POST", "/v1/workflows", {"name": "Seeded leads", "enabled": False, "trigger": EXAMPLE_TRIGGER,
                                                              "steps": EXAMPLE_STEPS})
    return {**owner, "grace": {"email": grace_email, "password": PASSWORD}, "seeded": seeded}


def _open_workflows(page: Any) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Workflows").click()
    page.get_by_role("heading", name="Workflows", exact=True).wait_for()


def _open_workflow(page: Any, name: str) -> None:
    _open_workflows(page)
    page.get_by_role("link", name=name, exact=True).click()
    page.get_by_role("heading", name=name, exact=True).wait_for()


def _add_step(page: Any, label: str, number: int) -> Any:
    page.get_by_label("New step type").select_option(label=label)
    page.get_by_role("button", name="Add the step").click()
    step = page.get_by_role("group", name=f"Step {number}: {label}")
    step.wait_for()
    return step


def _runs(platform: Platform, token: str, workflow_id: str) -> list[dict[str, Any]]:
    return _api(platform, token, "GET", f"/v1/workflows/{workflow_id}/runs")["data"]


def _run(platform: Platform, token: str, run_id: str) -> dict[str, Any]:
    return _api(platform, token, "GET", f"/v1/workflow-runs/{run_id}")


def test_write_the_example_see_its_run_and_cancel_it(platform: Platform, account: dict[str, Any], open_screen: Any) -> None:
    token = account["access_token"]
    screen = open_screen()
    page = _sign_in(screen, account)
    _open_workflows(page)
    page.locator("tr[data-workflow='Seeded leads']").wait_for()
    page.get_by_role("link", name="New workflow").click()
    page.get_by_role("heading", name="New workflow").wait_for()
    page.get_by_label("Name", exact=True).fill("Call new leads")
    trigger = page.get_by_role("group", name="Trigger")
    trigger.get_by_label("Event type", exact=True).select_option("crm.contact.created")
    trigger.get_by_label(re.compile("^Condition")).fill("lifecycle_stage = 'lead'")
    call = _add_step(page, "Create a task", 1)
    call.get_by_label("Step id").fill("call")
    call.get_by_label("Task title").fill("Call {{ record.first_name }}")
    call.get_by_label("Due", exact=True).select_option("due_in_days")
    call.get_by_label("Due in (days)").fill("1")
    wait = _add_step(page, "Delay", 2)
    wait.get_by_label("Step id").fill("wait")
    wait.get_by_label("Wait", exact=True).select_option("minutes")
    wait.get_by_label("Number of minutes").fill("1")
    tag = _add_step(page, "Update the record", 3)
    tag.get_by_label("Step id").fill("tag")
    tag.get_by_role("button", name="Add a field").click()
    tag.get_by_label("Field 1 name").fill("tagz")  # contacts have no such field
    tag.get_by_label("Field 1 value").fill('["called-workflow"]')
    page.get_by_role("button", name="Save workflow").click()

    # Refused: the API's message beside the step's field, and every problem named at the top
    page.get_by_role("alert").filter(has_text="Step 3 (tag, Update the record), fields.tagz").wait_for()
    field = tag.get_by_label("Field 1 name")
    assert field.get_attribute("aria-invalid") == "true"
    message = page.locator(f"#{field.get_attribute('aria-describedby')}").inner_text()
    assert "tagz" in message or "nknown" in message, message
    assert [w["name"] for w in _api(platform, token, "GET", "/v1/workflows")["data"]] == ["Seeded leads"]
    screen.audit("workflow-editor-refused")

    field.fill("tags")
    page.get_by_role("button", name="Save workflow").click()
    page.wait_for_url(re.compile(r"/workflows/[0-9a-f-]{36}$"))
    workflow_id = page.url.rsplit("/", 1)[1]
    page.get_by_role("status").filter(has_text="Created Call new leads").wait_for()
    saved = _api(platform, token, "GET", f"/v1/workflows/{workflow_id}")
    assert (saved["name"], saved["enabled"], saved["trigger"], saved["steps"]) == ("Call new leads", True, EXAMPLE_TRIGGER, EXAMPLE_STEPS)

    # A lead through the API: the dry run says what a run would do; the real run shows in the history
    ada = _api(platform, token, "POST", "/v1/contacts", {"first_name": "Ada", "lifecycle_stage": "lead"})
    page.get_by_label("Contact ids to test on (comma or space separated, at most 20)").fill(ada["id"])
    page.get_by_role("button", name="Run the test").click()
    results = page.get_by_role("list", name="Dry run results")
    results.locator("li[data-step='call']").filter(has_text="Call Ada").wait_for()
    results.locator("li[data-step='wait']").filter(has_text="would wait until").wait_for()
    row = page.locator("tr[data-status='waiting']")
    row.get_by_role("link", name=f"contact {ada['id']}").wait_for(timeout=60_000)
    assert row.get_by_role("link", name=f"contact {ada['id']}").get_attribute("href") == f"/contacts/{ada['id']}"
    tasks = _api(platform, token, "GET", f"/v1/tasks?contact_id={ada['id']}")["data"]
    assert [t["title"] for t in tasks] == ["Call Ada"]
    row.get_by_role("button", name=re.compile("^Details of the waiting run")).click()
    steps = page.get_by_role("list", name="Steps of the run")
    steps.locator("li[data-step='call']").filter(has_text="succeeded").wait_for()
    steps.locator("li[data-step='wait']").filter(has_text="waiting").wait_for()
    screen.audit("workflow-page")

    # Cancelled from the console: it never tags Ada
    page.get_by_role("button", name="Cancel run").click()
    page.get_by_role("button", name="Yes, cancel run").click()
    page.get_by_role("status").filter(has_text="The run is cancelled.").wait_for()
    [run] = _runs(platform, token, workflow_id)
    assert run["status"] == "cancelled" and run["record_id"] == ada["id"]

    # The list: what starts each workflow, and the enabled switch (a PATCH with If-Match)
    _open_workflows(page)
    listed = page.locator("tr[data-workflow='Call new leads']")
    listed.get_by_text("When a contact is created · lifecycle_stage = 'lead'").wait_for()
    listed.get_by_role("switch", name="On: Call new leads").click()
    page.get_by_role("status").filter(has_text="Call new leads is disabled").wait_for()
    assert _api(platform, token, "GET", f"/v1/workflows/{workflow_id}")["enabled"] is False
    listed.get_by_role("switch", name="Off: Call new leads").click()
    page.get_by_role("status").filter(has_text="Call new leads is enabled").wait_for()
    after = _api(platform, token, "GET", f"/v1/workflows/{workflow_id}")
    assert (after["enabled"], after["version_number"]) == (True, 1)  # no new definition version
    screen.audit("workflows")


def test_start_a_manual_workflow_see_it_fail_and_retry_it(platform: Platform, account: dict[str, Any], open_screen: Any) -> None:
    token = account["access_token"]
    di = _api(platform, token, "POST", "/v1/contacts", {"first_name": "Di"})
    # A value the contacts service refuses: the step fails for good, the run with it
    workflow = _api(platform, token, "POST", "/v1/workflows", {
        "name": "Stage by hand", "trigger": {"type": "manual", "record_type": "contact"},
        "steps": [{"id": "note", "type": "create_task", "title": "Look at {{ record.first_name }}"},
                  {"id": "stage", "type": "update_record", "fields": {"lifecycle_stage": "wizard"}}]})
    screen = open_screen()
    page = _sign_in(screen, account)
    _open_workflow(page, "Stage by hand")
    start = page.get_by_role("form", name="Start on records")
    start.get_by_label(re.compile("^Contact ids")).fill(di["id"])
    start.get_by_role("button", name="Start runs").click()
    start.get_by_role("status").filter(has_text="Started 1 run.").wait_for()
    row = page.locator("tr[data-status='failed']")
    row.wait_for(timeout=60_000)
    row.get_by_role("button", name=re.compile("^Details of the failed run")).click()
    detail = page.get_by_role("region", name=re.compile("^Run "))
    detail.locator("li[data-step='stage']").filter(has_text="failed").wait_for()
    detail.locator("li[data-step='note']").filter(has_text="succeeded").wait_for()
    detail.locator("li[data-step='stage'] .error").wait_for()
    screen.audit("workflow-run-failed")
    [failed] = _runs(platform, token, workflow["id"])
    assert _run(platform, token, failed["id"])["steps"][1]["attempts"] == 1
    detail.get_by_role("button", name="Retry from the failed step").click()
    detail.get_by_role("status").filter(has_text="Retrying from step stage.").wait_for()
    # The same value is refused again (the run keeps its version): a second attempt of that step only
    wait_for(lambda: (r := _run(platform, token, failed["id"]))["status"] == "failed" and r["steps"][1]["attempts"] == 2,
             timeout=60, what="the retried run")
    detail.locator("li[data-step='stage']").filter(has_text="2 attempts").wait_for()
    assert _run(platform, token, failed["id"])["steps"][0]["attempts"] == 1  # the task is not made twice
    assert len(_api(platform, token, "GET", f"/v1/tasks?contact_id={di['id']}")["data"]) == 1


def test_phone_editor_and_a_webhook_workflows_secrets_shown_once(platform: Platform, account: dict[str, Any],
                                                                 open_screen: Any) -> None:
    screen = open_screen(PHONE)
    page = _sign_in(screen, account)
    _open_workflows(page)
    page.locator("tr[data-workflow='Seeded leads']").wait_for()
    screen.audit("workflows")
    _open_workflow(page, "Seeded leads")
    page.get_by_role("group", name="Step 3: Update the record").get_by_label("Field 1 name").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
    screen.audit("workflow-page")
    screen.goto("/workflows/new")
    page.get_by_label("Name", exact=True).fill("From the shop")
    page.get_by_role("group", name="Trigger").get_by_label("Starts").select_option("webhook")
    page.get_by_role("group", name="Trigger").get_by_label("Record type").select_option("contact")
    tags = _add_step(page, "Add tags", 1)
    tags.get_by_label(re.compile("^Tags")).fill("shop, {{ trigger.source }}")
    page.get_by_role("button", name="Save workflow").click()
    secrets = page.get_by_role("region", name="The webhook URL and signing secret")
    secrets.wait_for()
    url = secrets.get_by_label("Webhook URL", exact=True).input_value()
    assert re.match(rf"{re.escape(platform.gateway_url)}/hooks/workflows/wfh_\S+$", url), url
    assert secrets.get_by_label("Signing secret", exact=True).input_value().startswith("whsec_")
    secrets.get_by_text("shown only this once").wait_for()
    screen.audit("workflow-webhook-secrets")
    saved = _api(platform, account["access_token"], "GET", f"/v1/workflows/{page.url.rsplit('/', 1)[1]}")
    assert saved["steps"] == [{"id": "add_tags", "type": "add_tags", "tags": ["shop", "{{ trigger.source }}"]}]
    assert "webhook_signing_secret" not in saved and saved["webhook_configured"] is True
    secrets.get_by_role("button", name="I have copied them").click()
    secrets.wait_for(state="detached")
    page.reload()
    page.get_by_role("heading", name="From the shop").wait_for()
    assert page.get_by_role("region", name="The webhook URL and signing secret").count() == 0


def test_a_member_sees_workflows_but_cannot_save_them(platform: Platform, account: dict[str, Any], open_screen: Any) -> None:
    screen: Screen = open_screen()
    page = _sign_in(screen, account["grace"])
    _open_workflows(page)
    page.get_by_text("Only owners and admins create and change workflows").wait_for()
    assert page.get_by_role("link", name="New workflow").count() == 0
    _open_workflow(page, "Seeded leads")
    page.get_by_text("Only owners and admins can save workflows. You can look at this one").wait_for()
    page.get_by_label("Name", exact=True).fill("Grace's leads")
    page.get_by_role("button", name="Save workflow").click()
    page.get_by_role("alert").filter(has_text="Only owners and admins can save workflows").wait_for()
    assert _api(platform, account["access_token"], "GET", f"/v1/workflows/{account['seeded']['id']}")["name"] == "Seeded leads"
    screen.audit("workflow-member")
