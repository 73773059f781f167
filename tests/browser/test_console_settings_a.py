"""Settings, part A, as an admin uses it in Debian's chromium: custom fields per object, pipelines
and their stages (added, reordered with the keyboard, removed with their deals moved), lost reasons
(and whether a lost deal needs one), teams with members and routing rules that route a new ticket.
Each page shows the API's 422 on its field, is checked through the API, and is audited with axe-core
at 1280×800 and 390×844."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from console_screen import PHONE, Screen
from console_screen import api as _api
from console_screen import sign_in as _sign_in

from crm_testing.platform import Platform

pytestmark = pytest.mark.integration



def _settings_page(screen: Screen, account: dict[str, Any], link: str) -> Any:
    page = _sign_in(screen, account)
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("navigation", name="Settings").get_by_role("link", name=link).click()
    return page


def _fits(page: Any) -> None:
    """Nothing wider than the phone: no sideways scrolling."""
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def _invalid(locator: Any) -> str:
    """The error text tied to an invalid control (aria-describedby), after waiting for it."""
    locator.and_(locator.page.locator("[aria-invalid=true]")).wait_for()
    described = locator.get_attribute("aria-describedby").split()[-1]
    return locator.page.locator(f"[id='{described}']").inner_text()


@pytest.fixture(scope="module")
def account(platform: Platform) -> dict[str, Any]:
    owner = platform.signup("Settings Co")
    colleague = _api(platform, owner["access_token"], "POST", "/v1/users",
                     {"email": f"agent-{uuid.uuid4().hex[:6]}@example.com", "name": "Agent Smith", "role": "member"})
    return {**owner, "colleague": colleague}


def test_custom_fields_per_object(platform: Platform, account: dict[str, Any], open_screen: Any) -> None:
    token = account["access_token"]
    screen = open_screen()
    page = _settings_page(screen, account, "Custom fields")
    page.get_by_role("heading", name="Custom fields").wait_for()
    page.get_by_text("No custom fields on contacts yet.").wait_for()
    form = page.get_by_role("form", name="New field on contacts")
    form.get_by_label("Label").fill("Favourite colour")
    key = form.get_by_label(re.compile("^Key"))
    key.fill("Favourite Colour")  # not a key: the API's own message, on the Key field
    form.get_by_label("Type").select_option("enum")
    form.get_by_label("Options").fill("red\nblue\n")
    form.get_by_role("button", name="Add field").click()
    assert _invalid(key)
    key.fill("favourite_colour")
    form.get_by_role("button", name="Add field").click()
    page.get_by_role("status").filter(has_text="Favourite colour added to contacts").wait_for()
    page.locator("li[data-field='favourite_colour']").wait_for()
    made = {p["key"]: p for p in _api(platform, token, "GET", "/v1/properties/contacts")["data"]}
    assert made["favourite_colour"]["type"] == "enum" and made["favourite_colour"]["options"] == ["red", "blue"]
    screen.audit("settings-custom-fields")
    # edit the label and the options
    page.get_by_role("button", name="Edit Favourite colour").click()
    editor = page.get_by_role("form", name="Edit the field Favourite colour")
    editor.get_by_label("Label").fill("Favourite color")
    editor.get_by_label("Options").fill("red\nblue\ngreen")
    editor.get_by_label("Required on every record").check()
    editor.get_by_role("button", name="Save field").click()
    page.get_by_role("status").filter(has_text="Favourite color saved").wait_for()
    field = _api(platform, token, "GET", "/v1/properties/contacts/favourite_colour")
    assert (field["label"], field["options"], field["required"]) == ("Favourite color", ["red", "blue", "green"], True)
    # delete asks first; the values are kept and it can come back
    page.get_by_role("button", name="Delete Favourite color").click()
    page.get_by_role("button", name="Yes, delete").click()
    page.locator("li[data-archived-field='favourite_colour']").wait_for()
    assert _api(platform, token, "GET", "/v1/properties/contacts/favourite_colour")["archived_at"] is not None
    # another object's fields live with its service
    page.get_by_role("button", name="Deals", exact=True).click()
    deals_form = page.get_by_role("form", name="New field on deals")
    deals_form.get_by_label("Label").fill("Contract length")
    deals_form.get_by_label(re.compile("^Key")).fill("contract_months")
    deals_form.get_by_label("Type").select_option("number")
    deals_form.get_by_role("button", name="Add field").click()
    page.locator("li[data-field='contract_months']").wait_for()
    assert "contract_months" in [p["key"] for p in _api(platform, token, "GET", "/v1/properties/deals")["data"]]
    phone = open_screen(PHONE)
    phone_page = _settings_page(phone, account, "Custom fields")
    phone_page.get_by_role("button", name="Deals", exact=True).click()
    phone_page.locator("li[data-field='contract_months']").wait_for()
    _fits(phone_page)
    phone.audit("settings-custom-fields")


def _stage_names(platform: Platform, token: str, pipeline_id: str) -> list[str]:
    stages = _api(platform, token, "GET", f"/v1/pipelines/{pipeline_id}")["stages"]
    return [s["name"] for s in sorted(stages, key=lambda s: s["position"])]


def test_pipelines_and_stages(platform: Platform, account: dict[str, Any], open_screen: Any) -> None:
    token = account["access_token"]
    screen = open_screen()
    page = _settings_page(screen, account, "Pipelines and stages")
    page.get_by_role("heading", name="Pipelines and stages").wait_for()
    page.get_by_label("Pipeline name").fill("Partners")
    page.get_by_role("button", name="Create pipeline").click()
    page.get_by_role("heading", name="Partners", exact=True).wait_for()
    partners = next(p for p in _api(platform, token, "GET", "/v1/pipelines")["data"] if p["name"] == "Partners")
    assert _stage_names(platform, token, partners["id"]) == ["New", "Won", "Lost"]
    # add a stage, then move it up with the keyboard: the focus stays on the moved stage's button
    page.get_by_role("button", name="Add a stage").click()
    new = page.get_by_role("group", name="Stage 4 (new)")
    new.get_by_label("Name").fill("Demo")
    new.get_by_label("Probability (%)").fill("40")
    page.get_by_role("button", name="Move stage 4 (Demo) up").focus()
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Move stage 3 (Demo) up").wait_for()
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Move stage 3 (Demo) up"
    page.keyboard.press("Enter")
    page.get_by_role("status").filter(has_text="Demo is now stage 2 of 4").wait_for()
    # a duplicate name: the API's message on that stage's Name field
    renamed = page.get_by_role("group", name="Stage 4").get_by_label("Name")
    renamed.fill("demo")
    page.get_by_role("button", name="Save the stages").click()
    assert "already named" in _invalid(renamed)
    renamed.fill("Lost")
    page.get_by_role("group", name="Stage 1").get_by_label("Name").fill("Qualified")
    page.get_by_role("button", name="Save the stages").click()
    page.get_by_role("status").filter(has_text="The stages of Partners are saved").wait_for()
    assert _stage_names(platform, token, partners["id"]) == ["Qualified", "Demo", "Won", "Lost"]
    demo = next(s for s in _api(platform, token, "GET", f"/v1/pipelines/{partners['id']}")["stages"] if s["name"] == "Demo")
    assert (demo["probability"], demo["kind"]) == (40, "open")
    screen.audit("settings-pipelines")
    # a stage with a deal can't just go: the API says why; its deal moves to a stage of the same kind
    deal = _api(platform, token, "POST", "/v1/deals", {"name": "Reseller deal", "pipeline_id": partners["id"],
                                                      "stage_id": demo["id"]})
    page.reload()
    page.get_by_role("button", name="Remove stage 2 (Demo)").click()
    page.get_by_role("button", name="Yes, remove").click()
    page.get_by_role("alert").filter(has_text="still has 1 deal").wait_for()
    page.get_by_label("Move the deals of Demo to").select_option(label="Qualified")
    page.get_by_role("button", name="Move the deals and remove Demo").click()
    page.get_by_role("status").filter(has_text="Stage Demo removed").wait_for()
    assert _stage_names(platform, token, partners["id"]) == ["Qualified", "Won", "Lost"]
    assert _api(platform, token, "GET", f"/v1/deals/{deal['id']}")["stage_id"] != demo["id"]
    # rename; a pipeline with deals can't be deleted, and the API's message is shown
    page.get_by_label("Name of this pipeline").fill("Partner deals")
    page.get_by_role("button", name="Rename", exact=True).click()
    page.get_by_role("heading", name="Partner deals", exact=True).wait_for()
    page.get_by_role("button", name="Delete pipeline Partner deals").click()
    page.get_by_role("button", name="Yes, delete").click()
    page.get_by_role("alert").filter(has_text="still has 1 deal(s)").wait_for()
    assert _api(platform, token, "GET", f"/v1/pipelines/{partners['id']}")["name"] == "Partner deals"
    phone = open_screen(PHONE)
    phone_page = _settings_page(phone, account, "Pipelines and stages")
    phone_page.get_by_role("group", name="Stage 1").wait_for()
    _fits(phone_page)
    phone.audit("settings-pipelines")


def test_lost_reasons(platform: Platform, account: dict[str, Any], open_screen: Any) -> None:
    token = account["access_token"]
    screen = open_screen()
    page = _settings_page(screen, account, "Lost reasons")
    page.get_by_role("heading", name="Lost reasons").wait_for()
    field = page.get_by_label("New lost reason")
    field.fill("Too slow")
    page.get_by_role("button", name="Add reason").click()
    page.locator("li[data-reason='Too slow']").wait_for()
    assert "Too slow" in _api(platform, token, "GET", "/v1/settings/pipeline")["lost_reasons"]
    field.fill("price")  # the API's rule: distinct reasons; its message on the field
    page.get_by_role("button", name="Add reason").click()
    assert "distinct" in _invalid(field)
    screen.audit("settings-lost-reasons")
    page.get_by_role("button", name="Rename Too slow").click()
    page.get_by_label("New name for Too slow").fill("Far too slow")
    page.get_by_role("button", name="Save", exact=True).click()
    page.locator("li[data-reason='Far too slow']").wait_for()
    page.get_by_role("button", name="Remove Timing").click()
    page.get_by_role("button", name="Yes, remove").click()
    page.locator("li[data-reason='Timing']").wait_for(state="detached")
    reasons = _api(platform, token, "GET", "/v1/settings/pipeline")["lost_reasons"]
    assert "Far too slow" in reasons and "Too slow" not in reasons and "Timing" not in reasons
    # the reason is offered: a deal can be lost for it
    deal = _api(platform, token, "POST", "/v1/deals", {"name": "Slow deal"})
    lost = _api(platform, token, "PATCH", f"/v1/deals/{deal['id']}", {"status": "lost", "lost_reason": "far too slow"})
    assert lost["lost_reason"] == "Far too slow"
    # and whether a lost deal needs a reason at all
    page.get_by_label("A lost deal needs a lost reason").uncheck()
    page.get_by_role("status").filter(has_text="can now be lost without a reason").wait_for()
    assert _api(platform, token, "GET", "/v1/settings/pipeline")["lost_reason_required"] is False
    other = _api(platform, token, "POST", "/v1/deals", {"name": "No reason deal"})
    assert _api(platform, token, "PATCH", f"/v1/deals/{other['id']}", {"status": "lost"})["status"] == "lost"
    page.get_by_label("A lost deal needs a lost reason").check()
    page.get_by_role("status").filter(has_text="now needs a lost reason").wait_for()
    assert _api(platform, token, "GET", "/v1/settings/pipeline")["lost_reason_required"] is True
    phone = open_screen(PHONE)
    phone_page = _settings_page(phone, account, "Lost reasons")
    phone_page.locator("li[data-reason='Far too slow']").wait_for()
    _fits(phone_page)
    phone.audit("settings-lost-reasons")


def test_teams_and_routing(platform: Platform, account: dict[str, Any], open_screen: Any) -> None:
    token = account["access_token"]
    owner_id, agent = account["user"]["id"], account["colleague"]
    screen = open_screen()
    page = _settings_page(screen, account, "Teams and routing")
    page.get_by_role("heading", name="Teams and routing").wait_for()
    form = page.get_by_role("form", name="New team")
    form.get_by_label("Team name").fill("Billing")
    form.get_by_label("Assignment method").select_option("round_robin")
    form.locator(f"[data-user='{account['email']}']").get_by_role("checkbox").check()
    form.locator(f"[data-user='{agent['email']}']").get_by_role("checkbox").check()
    capacity = form.get_by_label("Capacity of Agent Smith")
    capacity.fill("-1")  # the API's range, on the member's capacity
    form.get_by_label(re.compile("^Lead")).select_option(label="Agent Smith")
    form.get_by_role("button", name="Create team").click()
    assert _invalid(capacity)
    capacity.fill("5")
    form.get_by_role("button", name="Create team").click()
    page.get_by_role("status").filter(has_text="Team Billing created").wait_for()
    team = next(t for t in _api(platform, token, "GET", "/v1/teams")["data"] if t["name"] == "Billing")
    assert team["assignment_mode"] == "round_robin" and team["lead_id"] == agent["id"]
    assert {m["user_id"]: m["capacity"] for m in team["members"]} == {owner_id: None, agent["id"]: 5}
    # the agent is away: routing skips them (in every team they are in)
    page.get_by_label(re.compile("^Available.*Agent Smith")).uncheck()
    page.get_by_role("status").filter(has_text="Agent Smith is now away").wait_for()
    members = _api(platform, token, "GET", f"/v1/teams/{team['id']}/members")["data"]
    assert {m["user_id"]: m["available"] for m in members} == {owner_id: True, agent["id"]: False}
    # routing rules: a bad condition is refused on its field, a good one sends tickets to the team
    rule_form = page.get_by_role("form", name="New routing rule")
    rule_form.get_by_label("Rule name").fill("Refunds")
    condition = rule_form.get_by_label("Condition")
    condition.fill("subject contains")
    rule_form.get_by_label("Send to team").select_option(label="Billing")
    rule_form.get_by_role("button", name="Add rule").click()
    assert _invalid(condition)
    condition.fill("subject contains 'refund'")
    rule_form.get_by_role("button", name="Add rule").click()
    page.locator("li[data-rule='Refunds']").wait_for()
    rule_form.get_by_label("Rule name").fill("Everything urgent")
    rule_form.get_by_label("Set priority").select_option("urgent")
    rule_form.get_by_role("button", name="Add rule").click()
    page.locator("li[data-rule='Everything urgent']").wait_for()
    # reorder with the keyboard; the order is the API's positions
    page.get_by_role("button", name="Move rule Everything urgent up").focus()
    page.keyboard.press("Enter")
    page.get_by_role("status").filter(has_text="Rule Everything urgent is now tried 1 of 2").wait_for()
    rules = _api(platform, token, "GET", "/v1/routing-rules")["data"]
    assert [r["name"] for r in rules] == ["Everything urgent", "Refunds"]
    page.get_by_role("button", name="Move rule Refunds up").click()
    page.get_by_role("status").filter(has_text="Rule Refunds is now tried 1 of 2").wait_for()
    rules = _api(platform, token, "GET", "/v1/routing-rules")["data"]
    assert [r["name"] for r in rules] == ["Refunds", "Everything urgent"]
    assert rules[0]["condition"] == "subject contains 'refund'" and rules[0]["team_id"] == team["id"]
    screen.audit("settings-teams")
    # a new matching ticket goes to the team, and to its available member
    ticket = _api(platform, token, "POST", "/v1/tickets", {"subject": "Refund for order 42", "requester_email": "x@example.com"})
    assert ticket["team_id"] == team["id"] and ticket["assignee_id"] == owner_id
    other = _api(platform, token, "POST", "/v1/tickets", {"subject": "Printer", "requester_email": "y@example.com"})
    assert other["team_id"] is None and other["priority"] == "urgent"
    # a team that rules send tickets to can't be deleted: the API's message
    page.get_by_role("button", name="Delete team Billing").click()
    page.get_by_role("button", name="Yes, delete").click()
    page.get_by_role("alert").filter(has_text="Routing rules send tickets to this team").wait_for()
    phone = open_screen(PHONE)
    phone_page = _settings_page(phone, account, "Teams and routing")
    phone_page.locator("li[data-rule='Refunds']").wait_for()
    _fits(phone_page)
    phone.audit("settings-teams")


def test_a_member_is_not_offered_these_settings(platform: Platform, account: dict[str, Any], open_screen: Any) -> None:
    email = f"member-{uuid.uuid4().hex[:6]}@example.com"
    made = _api(platform, account["access_token"], "POST", "/v1/users", {"email": email, "role": "member"})
    password = "a long enough password"
    accepted = platform.request("POST", "/v1/auth/invitations/accept",
                                {"invitation_token": made["invitation_token"], "password": password})
    assert accepted.status == 200, accepted.data[:300]
    screen = open_screen(PHONE)
    page = _sign_in(screen, {"email": email, "password": password})
    for path in ("/settings/custom-fields", "/settings/pipelines", "/settings/lost-reasons", "/settings/teams"):
        screen.goto(path)
        page.get_by_text("Only owners and admins change the settings.").wait_for()
    assert platform.request("PATCH", "/v1/settings/pipeline", {"lost_reason_required": False},
                            token=accepted.json()["access_token"]).status == 403  # the API refuses it too
