"""The record pages of contacts and companies as their users use them, in Debian's chromium: fields
and custom fields edited in place (a 412 says whose value won), meetings and emails on the timeline,
two duplicates merged with a value chosen per field (and the merge undone), GDPR export and erasure by an admin but not a member,
a company with its contacts, and a user of another tenant who edits URLs sees nothing. Every
screen is checked with axe-core and photographed at 1280×800 and 390×844 into var/screenshots/."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from console_screen import DESKTOP, PHONE, Screen, sign_in

from crm_testing.platform import Platform

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"


def _call(platform: Platform, token: str, method: str, path: str, body: Any = None, **headers: str) -> Any:
    return platform.request(method, path, body, token=token, headers=headers)


def _api(platform: Platform, token: str, method: str, path: str, body: Any = None, **headers: str) -> Any:
    resp = _call(platform, token, method, path, body, **headers)
    assert resp.status < 300, (path, resp.status, resp.data[:500])
    return resp.json() if resp.data else None


def _sign_in(screen: Screen, email: str, viewport: dict[str, int] = DESKTOP) -> Any:
    return sign_in(screen, {"email": email, "password": PASSWORD})


def _audit_both(screen: Screen, name: str) -> None:
    """The screen as it is, at desktop and at phone size (then back to desktop); nothing wider than
    the phone's screen."""
    for size in (DESKTOP, PHONE):
        screen.page.set_viewport_size(size)
        screen.audit(name)
        overflow = screen.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} at {size}: {overflow}px wider than the screen"
    screen.page.set_viewport_size(DESKTOP)


def _user(platform: Platform, token: str, role: str) -> str:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    _api(platform, token, "POST", "/v1/users", {"email": email, "name": role.title(), "role": role, "password": PASSWORD})
    return email


def _token(platform: Platform, email: str) -> str:
    resp = platform.request("POST", "/v1/auth/token", {"email": email, "password": PASSWORD})
    assert resp.status == 200, resp.data
    return str(resp.json()["access_token"])


@pytest.fixture(scope="module")
def tenant(platform: Platform) -> dict[str, Any]:
    """A tenant with custom fields, a company with two contacts, a pair of duplicates, an admin and
    a member, all made through the API."""
    owner = platform.signup("Records Co")
    token = owner["access_token"]
    for key, label, kind, options in [("plan", "Plan", "enum", ["free", "pro", "team"]), ("seats", "Seats", "number", None),
                                      ("renewal", "Renewal", "date", None), ("vip", "VIP", "bool", None)]:
        _api(platform, token, "POST", "/v1/properties/contacts", {"key": key, "label": label, "type": kind,
                                                                  **({"options": options} if options else {})})
    _api(platform, token, "POST", "/v1/properties/companies", {"key": "tier", "label": "Tier", "type": "text"})
    acme = _api(platform, token, "POST", "/v1/companies", {"name": "Acme Engines", "domain": "acme-engines.example"})
    people: dict[str, Any] = {}
    for name, first, last, email, company in [
        ("grace", "Grace", "Hopper", "grace@navy.example", None),
        ("ada", "Ada", "Lovelace", "ada@acme-engines.example", acme["id"]),
        ("ada_dup", "Ada", "Lovelace", "ada.l@acme-engines.example", None),
        ("charles", "Charles", "Babbage", "charles@acme-engines.example", acme["id"]),
        ("erin", "Erin", "Erasable", "erin@example.com", None),
    ]:
        people[name] = _api(platform, token, "POST", "/v1/contacts", {
            "first_name": first, "last_name": last, "email": email, **({"company_id": company} if company else {}),
            **({"phone": "+44 20 7946 0001"} if name == "ada_dup" else {})})
    _api(platform, token, "PATCH", f"/v1/contacts/{people['erin']['id']}", {"properties": {"plan": "pro"}})
    _api(platform, token, "POST", f"/v1/contacts/{people['ada']['id']}/activities", {"type": "note", "body": "Met at the expo"})
    _api(platform, token, "POST", f"/v1/contacts/{people['erin']['id']}/activities", {"type": "note", "body": "Asked to be forgotten"})
    return {**owner, "acme": acme, "people": people, "admin": _user(platform, token, "admin"),
            "member": _user(platform, token, "member")}


def test_fields_and_custom_fields_in_place_and_a_412_names_their_value(platform: Platform, tenant: dict[str, Any],
                                                                       open_screen: Any) -> None:
    token, grace = tenant["access_token"], tenant["people"]["grace"]
    screen = open_screen()
    page = _sign_in(screen, tenant["email"])
    screen.goto(f"/contacts/{grace['id']}")
    page.get_by_role("heading", name="Grace Hopper").wait_for()
    # a standard field, then each kind of custom field
    page.get_by_role("button", name=re.compile("^Edit Phone")).click()
    page.get_by_role("textbox", name="Phone", exact=True).fill("+1 202 555 0143")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("button", name=re.compile(r"^Edit Phone: \+1")).wait_for()
    page.get_by_role("button", name="Edit Stage: empty").click()
    page.get_by_role("combobox", name="Stage").select_option("customer")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("button", name="Edit Stage: customer").wait_for()
    page.get_by_role("button", name="Edit Plan: empty").click()
    page.get_by_role("combobox", name="Plan").select_option("team")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("button", name="Edit Plan: team").wait_for()
    page.get_by_role("button", name="Edit Seats: empty").click()
    page.get_by_role("spinbutton", name="Seats").fill("12")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("button", name="Edit Seats: 12").wait_for()
    page.get_by_role("button", name="Edit Renewal: empty").click()
    page.get_by_label("Renewal", exact=True).fill("2027-03-31")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("button", name="Edit Renewal: 2027-03-31").wait_for()
    page.get_by_role("button", name="Edit VIP: No").click()
    page.get_by_role("checkbox", name="VIP").check()
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("button", name="Edit VIP: Yes").wait_for()
    saved = _api(platform, token, "GET", f"/v1/contacts/{grace['id']}")
    assert saved["phone"] == "+12025550143" and saved["lifecycle_stage"] == "customer"
    assert saved["properties"] == {"plan": "team", "seats": 12, "renewal": "2027-03-31", "vip": True}
    # a value the API refuses is said on the field, and nothing changes
    page.get_by_role("button", name=re.compile("^Edit Email")).click()
    page.get_by_role("textbox", name="Email", exact=True).fill("not an address")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("alert").filter(has_text="email").wait_for()
    page.get_by_role("button", name="Cancel").click()
    _audit_both(screen, "record-contact")
    # someone else saves first: the 412 says what they saved, the page shows it, nothing is overwritten
    _api(platform, token, "PATCH", f"/v1/contacts/{grace['id']}", {"last_name": "Brewster Hopper", "properties": {"seats": 9}})
    page.get_by_role("button", name=re.compile("^Edit Seats")).click()
    page.get_by_role("spinbutton", name="Seats").fill("4")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("alert").filter(has_text="Someone else changed this contact first: Seats is now “9”").wait_for()
    page.get_by_role("button", name="Edit Seats: 9").wait_for()
    page.get_by_role("button", name="Edit Last name: Brewster Hopper").wait_for()  # the whole record is theirs now
    _audit_both(screen, "record-contact-conflict")
    after = _api(platform, token, "GET", f"/v1/contacts/{grace['id']}")
    assert after["last_name"] == "Brewster Hopper" and after["properties"]["seats"] == 9
    # and with their version in hand, the change goes through
    page.get_by_role("button", name="Edit Seats: 9").click()
    page.get_by_role("spinbutton", name="Seats").fill("4")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("button", name="Edit Seats: 4").wait_for()
    assert _api(platform, token, "GET", f"/v1/contacts/{grace['id']}")["properties"]["seats"] == 4


def test_a_meeting_and_an_email_on_the_timeline(platform: Platform, tenant: dict[str, Any], open_screen: Any) -> None:
    token, charles = tenant["access_token"], tenant["people"]["charles"]
    screen = open_screen()
    page = _sign_in(screen, tenant["email"])
    screen.goto(f"/contacts/{charles['id']}")
    page.get_by_role("heading", name="Charles Babbage").wait_for()
    page.get_by_label("Kind").select_option("meeting")
    page.get_by_label("Subject").fill("Difference engine review")
    page.get_by_label("Starts").fill("2026-12-10T10:00")
    page.get_by_label("Ends").fill("2026-12-10T11:30")
    page.get_by_label("Location").fill("Room 4")
    page.get_by_label("Notes").fill("Bring the drawings")
    _audit_both(screen, "record-timeline-meeting-form")
    page.get_by_role("button", name="Add to timeline").click()
    entry = page.locator("ol.timeline li[data-kind='meeting']")
    entry.filter(has_text="Difference engine review").wait_for()
    assert "Room 4" in entry.inner_text()
    page.get_by_label("Kind").select_option("email")
    page.get_by_label("Direction").select_option("inbound")
    page.get_by_label("Subject").fill("Re: the analytical engine")
    page.get_by_label("Message").fill("Happy to meet.")
    page.get_by_role("button", name="Add to timeline").click()
    page.locator("ol.timeline li[data-kind='email']").filter(has_text="Re: the analytical engine").wait_for()
    # a note needs a body: the API says so, next to the form
    page.get_by_label("Kind").select_option("note")
    page.get_by_role("button", name="Add to timeline").click()
    page.get_by_role("alert").filter(has_text="body").wait_for()
    _audit_both(screen, "record-timeline")
    logged = _api(platform, token, "GET", f"/v1/contacts/{charles['id']}/activities")["data"]
    by_type = {a["type"]: a for a in logged}
    assert set(by_type) == {"meeting", "email"}
    meeting, email = by_type["meeting"], by_type["email"]
    assert meeting["subject"] == "Difference engine review" and meeting["location"] == "Room 4"
    assert meeting["body"] == "Bring the drawings" and meeting["starts_at"] < meeting["ends_at"]
    assert (email["direction"], email["subject"], email["body"]) == ("inbound", "Re: the analytical engine", "Happy to meet.")


def test_merge_two_duplicates_then_undo_it(platform: Platform, tenant: dict[str, Any], open_screen: Any) -> None:
    token, ada, dup = tenant["access_token"], tenant["people"]["ada"], tenant["people"]["ada_dup"]
    screen = open_screen()
    page = _sign_in(screen, tenant["email"])
    screen.goto(f"/contacts/{ada['id']}")
    page.get_by_role("heading", name="Ada Lovelace").wait_for()
    duplicates = page.locator("section[aria-labelledby='duplicates-title']")
    duplicates.get_by_role("link", name="Ada Lovelace (ada.l@acme-engines.example)").wait_for()
    page.get_by_role("button", name="Compare and merge with Ada Lovelace (ada.l@acme-engines.example)").click()
    compared = page.get_by_role("table")
    assert "ada.l@acme-engines.example" in compared.inner_text() and "+442079460001" in compared.inner_text()
    page.get_by_role("radio", name=re.compile("^This one")).check()
    # where both have a value, the user picks which one stays: here the other's email
    assert page.get_by_role("radio", name="Keep Email: ada@acme-engines.example").is_checked()
    page.get_by_role("radio", name="Keep Email: ada.l@acme-engines.example").check()
    assert page.get_by_role("radio", name=re.compile("^Keep Phone")).count() == 0  # one side empty: filled, no choice
    _audit_both(screen, "record-merge")
    page.get_by_role("button", name="Merge the two contacts").click()
    page.get_by_role("status").filter(has_text="Merged.").wait_for()
    page.get_by_role("button", name=re.compile(r"^Edit Phone: \+44")).wait_for()  # the empty phone was filled from the other
    left = _api(platform, token, "GET", "/v1/contacts?q=lovelace")["data"]
    assert [c["id"] for c in left] == [ada["id"]]
    assert left[0]["merged_ids"] == [dup["id"]]
    assert (left[0]["email"], left[0]["emails"]) == ("ada.l@acme-engines.example", ["ada@acme-engines.example"])
    page.get_by_role("button", name="Edit Email: ada.l@acme-engines.example").wait_for()
    # the old id answers for the survivor; the page offers the undo
    page.get_by_role("button", name=f"Undo merge of record {dup['id']}").click()
    page.get_by_role("status").filter(has_text="The merge was undone").wait_for()
    assert {c["id"] for c in _api(platform, token, "GET", "/v1/contacts?q=lovelace")["data"]} == {ada["id"], dup["id"]}
    page.get_by_role("button", name="Edit Email: ada@acme-engines.example").wait_for()
    assert _api(platform, token, "GET", f"/v1/contacts/{dup['id']}")["email"] == "ada.l@acme-engines.example"
    _audit_both(screen, "record-unmerged")


def test_an_admin_exports_and_erases_a_contact(platform: Platform, tenant: dict[str, Any], open_screen: Any,
                                              tmp_path: Path) -> None:
    erin = tenant["people"]["erin"]
    screen = open_screen()
    page = _sign_in(screen, tenant["admin"])
    screen.goto(f"/contacts/{erin['id']}")
    page.get_by_role("heading", name="Erin Erasable").wait_for()
    with page.expect_download() as download:
        page.get_by_role("button", name="Export personal data").click()
    assert download.value.suggested_filename == f"contact-{erin['id']}.json"
    target = tmp_path / "export.json"
    download.value.save_as(target)
    exported = json.loads(target.read_text())
    assert exported["contact"]["email"] == "erin@example.com" and exported["contact"]["properties"] == {"plan": "pro"}
    assert [a["body"] for a in exported["activities"]] == ["Asked to be forgotten"]
    page.get_by_role("button", name="Erase this contact…").click()
    confirm = page.get_by_role("button", name="Erase for good")
    page.get_by_label("Type erin@example.com to confirm").fill("erin@")
    assert confirm.is_disabled()
    _audit_both(screen, "record-erase")
    page.get_by_label("Type erin@example.com to confirm").fill("erin@example.com")
    confirm.click()
    page.get_by_role("alert").filter(has_text="This contact was erased.").wait_for()
    assert page.get_by_text("Erasable").count() == 0
    gone = _call(platform, tenant["access_token"], "GET", f"/v1/contacts/{erin['id']}")
    assert gone.status == 410
    assert _api(platform, tenant["access_token"], "GET", "/v1/contacts?q=erin")["data"] == []
    _audit_both(screen, "record-erased")


def test_a_member_sees_no_gdpr_buttons_and_the_api_refuses_them(platform: Platform, tenant: dict[str, Any],
                                                               open_screen: Any) -> None:
    charles = tenant["people"]["charles"]
    screen = open_screen()
    page = _sign_in(screen, tenant["member"])
    screen.goto(f"/contacts/{charles['id']}")
    page.get_by_role("heading", name="Charles Babbage").wait_for()
    page.get_by_role("heading", name="Timeline").wait_for()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("button", name="Export personal data").count() == 0
    assert page.get_by_role("button", name=re.compile("^Erase")).count() == 0
    page.get_by_role("button", name=re.compile("^Edit Phone")).wait_for()  # members still edit
    _audit_both(screen, "record-contact-member")
    member = _token(platform, tenant["member"])
    assert _call(platform, member, "GET", f"/v1/contacts/{charles['id']}/export").status == 403
    assert _call(platform, member, "POST", f"/v1/contacts/{charles['id']}/erase").status == 403
    assert _call(platform, tenant["access_token"], "GET", f"/v1/contacts/{charles['id']}").status == 200


def test_a_company_page_with_its_contacts_and_an_edit_in_place(platform: Platform, tenant: dict[str, Any],
                                                              open_screen: Any) -> None:
    token, acme, charles = tenant["access_token"], tenant["acme"], tenant["people"]["charles"]
    screen = open_screen()
    page = _sign_in(screen, tenant["email"])
    screen.goto(f"/contacts/{charles['id']}")
    page.get_by_role("heading", name="Charles Babbage").wait_for()
    page.get_by_role("link", name="Acme Engines").click()
    page.wait_for_url(re.compile(f"/companies/{acme['id']}$"))
    page.get_by_role("heading", name="Acme Engines").wait_for()
    linked = page.locator("section[aria-labelledby='company-contacts-title']")
    linked.get_by_role("link", name="Charles Babbage").wait_for()
    linked.get_by_role("link", name="Ada Lovelace").wait_for()
    page.get_by_role("button", name="Edit Industry: empty").click()
    page.get_by_role("textbox", name="Industry").fill("Computing machinery")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("button", name="Edit Industry: Computing machinery").wait_for()
    page.get_by_role("button", name="Edit Tier: empty").click()
    page.get_by_role("textbox", name="Tier").fill("Gold")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("button", name="Edit Tier: Gold").wait_for()
    saved = _api(platform, token, "GET", f"/v1/companies/{acme['id']}")
    assert saved["industry"] == "Computing machinery" and saved["properties"] == {"tier": "Gold"}
    # the company's timeline holds what was logged on its contacts, and takes entries of its own
    page.locator("ol.timeline li[data-kind='note']").filter(has_text="Met at the expo").wait_for()
    page.get_by_label("Kind").select_option("call")
    page.get_by_label("Outcome").select_option("connected")
    page.get_by_label("Duration (minutes)").fill("15")
    page.get_by_label("What happened").fill("Agreed on a pilot")
    page.get_by_role("button", name="Add to timeline").click()
    page.locator("ol.timeline li[data-kind='call']").filter(has_text="Agreed on a pilot").wait_for()
    calls = [a for a in _api(platform, token, "GET", f"/v1/companies/{acme['id']}/activities")["data"] if a["type"] == "call"]
    assert [(c["outcome"], c["duration_seconds"], c["company_id"]) for c in calls] == [("connected", 900, acme["id"])]
    # someone else renamed it first: said, and theirs stays
    _api(platform, token, "PATCH", f"/v1/companies/{acme['id']}", {"industry": "Engines"})
    page.get_by_role("button", name=re.compile("^Edit Industry")).click()
    page.get_by_role("textbox", name="Industry").fill("Steam")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("alert").filter(has_text="Someone else changed this company first: Industry is now “Engines”").wait_for()
    _audit_both(screen, "record-company")
    linked.get_by_role("link", name="Ada Lovelace").click()
    page.get_by_role("heading", name="Ada Lovelace").wait_for()


def test_another_tenant_sees_nothing_of_these_records(platform: Platform, tenant: dict[str, Any], open_screen: Any) -> None:
    other = platform.signup("Stranger Co")
    ada, acme = tenant["people"]["ada"], tenant["acme"]
    screen = open_screen(PHONE)
    page = _sign_in(screen, other["email"])
    screen.goto(f"/contacts/{ada['id']}")
    page.get_by_role("alert").filter(has_text="There is no such contact.").wait_for()
    assert page.get_by_text("Lovelace").count() == 0
    screen.audit("record-contact-foreign")
    screen.goto(f"/companies/{acme['id']}")
    page.get_by_role("alert").filter(has_text="There is no such company.").wait_for()
    assert page.get_by_text("Acme").count() == 0
    screen.audit("record-company-foreign")
    for path in (f"/v1/contacts/{ada['id']}/duplicates", f"/v1/contacts/{ada['id']}/export", f"/v1/companies/{acme['id']}/activities"):
        assert _call(platform, other["access_token"], "GET", path).status == 404, path


def test_merge_two_duplicate_companies_choosing_the_name(platform: Platform, tenant: dict[str, Any], open_screen: Any) -> None:
    token = tenant["access_token"]
    works = _api(platform, token, "POST", "/v1/companies", {"name": "Babbage Works", "domain": "babbage.example"})
    dup = _api(platform, token, "POST", "/v1/companies", {"name": "Babbage Works Ltd", "industry": "Engines"})
    worker = _api(platform, token, "POST", "/v1/contacts", {"first_name": "Ada", "last_name": "Byron", "company_id": dup["id"]})
    screen = open_screen()
    page = _sign_in(screen, tenant["email"])
    screen.goto(f"/companies/{works['id']}")
    page.get_by_role("heading", name="Babbage Works").wait_for()
    page.get_by_role("button", name="Compare and merge with Babbage Works Ltd").click()
    page.get_by_role("radio", name="Keep Name: Babbage Works Ltd").check()
    _audit_both(screen, "record-company-merge")
    page.get_by_role("button", name="Merge the two companies").click()
    page.get_by_role("status").filter(has_text="Merged.").wait_for()
    page.get_by_role("heading", name="Babbage Works Ltd").wait_for()
    page.locator("section[aria-labelledby='company-contacts-title']").get_by_role("link", name="Ada Byron").wait_for()
    left = _api(platform, token, "GET", "/v1/companies?q=babbage")["data"]
    assert [(c["id"], c["name"], c["domain"], c["industry"]) for c in left] == [
        (works["id"], "Babbage Works Ltd", "babbage.example", "Engines")]
    assert _api(platform, token, "GET", f"/v1/contacts/{worker['id']}")["company_id"] == works["id"]
