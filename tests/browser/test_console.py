"""The console as its users use it, in Debian's chromium: sign up, find contacts, edit in place,
move deals on the board (a refused move rolls back with the reason), answer a ticket, and a user of
another tenant who edits URLs sees nothing. Every screen is checked with axe-core and photographed
at 1280×800 and 390×844 into var/screenshots/."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from console_screen import DESKTOP, PHONE
from console_screen import api as _api
from console_screen import sign_in as _sign_in
from playwright.sync_api import expect

from crm_testing.platform import Platform

pytestmark = pytest.mark.integration



@pytest.fixture(scope="module")
def account(platform: Platform) -> dict[str, Any]:
    """A tenant with contacts, deals on the default pipeline and a ticket, made through the API."""
    owner = platform.signup("Console Co")
    token = owner["access_token"]
    for first, last, email in [("Ada", "Lovelace", "ada@example.com"), ("Grace", "Hopper", "grace@example.com"),
                               ("Alan", "Turing", "alan@example.com")]:
        _api(platform, token, "POST", "/v1/contacts", {"first_name": first, "last_name": last, "email": email,
                                                       "lifecycle_stage": "lead"})
    _api(platform, token, "POST", "/v1/deals", {"name": "Big deal", "amount": {"amount": "12000", "currency": "EUR"}})
    _api(platform, token, "POST", "/v1/deals", {"name": "Small deal", "amount": {"amount": "800", "currency": "EUR"}})
    ticket = _api(platform, token, "POST", "/v1/tickets", {"subject": "Printer on fire", "requester_email": "ada@example.com",
                                                           "description": "Smoke everywhere"})
    return {**owner, "ticket": ticket}


def test_sign_up_in_the_console_and_sign_out(platform: Platform, open_screen: Any) -> None:
    screen = open_screen()
    page = screen.goto("/")
    page.wait_for_url(re.compile(r"/signin"))
    screen.audit("sign-in")
    page.get_by_role("link", name="Create a company account").click()
    page.get_by_label("Password (at least 10 characters)").fill("short")
    page.get_by_label("Company").fill("Signup Co")
    page.get_by_label("Work email").fill(f"owner-{uuid.uuid4().hex[:8]}@example.com")
    page.get_by_role("button", name="Create account").click()
    page.get_by_text("Use 10 to 128 characters.").wait_for()  # the API's own message, on its field
    screen.audit("sign-up")
    page.get_by_label("Password (at least 10 characters)").fill("correct horse battery")
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("heading", name="Contacts").wait_for()
    page.get_by_text("No contacts match.").wait_for()
    # A reload keeps the session (the refresh cookie), and the page's scripts can't read that cookie
    page.reload()
    page.get_by_role("heading", name="Contacts").wait_for()
    assert "crm_refresh" not in page.evaluate("document.cookie")
    assert page.evaluate("JSON.stringify(localStorage) + JSON.stringify(sessionStorage)") == "{}{}"
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/signin"))
    page.reload()  # the cookie's session is revoked: signed out for good
    page.wait_for_url(re.compile(r"/signin"))


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_find_a_contact_and_edit_it_in_place(platform: Platform, account: dict[str, Any], open_screen: Any,
                                             viewport: dict[str, int]) -> None:
    screen = open_screen(viewport)
    page = _sign_in(screen, account)
    page.get_by_role("link", name="Grace Hopper").wait_for()
    screen.audit("contacts")
    page.get_by_label("Search").fill("lovelace")
    page.get_by_role("button", name="Apply").click()
    page.get_by_role("link", name="Ada Lovelace").wait_for()
    assert page.get_by_role("link", name="Grace Hopper").count() == 0
    page.get_by_label("Search").fill("")
    page.get_by_label("Filter").fill("email = 'alan@example.com'")
    page.get_by_role("button", name="Apply").click()
    page.get_by_role("link", name="Alan Turing").wait_for()
    assert page.get_by_role("link", name="Ada Lovelace").count() == 0
    page.get_by_role("link", name="Alan Turing").click()
    page.get_by_role("heading", name="Alan Turing").wait_for()
    page.get_by_role("button", name=re.compile("^Edit Phone")).click()
    page.get_by_role("textbox", name="Phone").fill("+44 20 7946 0000")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("button", name=re.compile(r"^Edit Phone: \+44")).wait_for()
    screen.audit("contact")


def test_someone_else_changed_it_first_is_said_not_overwritten(platform: Platform, account: dict[str, Any],
                                                                open_screen: Any) -> None:
    screen = open_screen()
    page = _sign_in(screen, account)
    page.get_by_role("link", name="Grace Hopper").click()
    page.get_by_role("heading", name="Grace Hopper").wait_for()
    grace = next(c for c in _api(platform, account["access_token"], "GET", "/v1/contacts?q=grace")["data"])
    _api(platform, account["access_token"], "PATCH", f"/v1/contacts/{grace['id']}", {"last_name": "Brewster Hopper"})
    page.get_by_role("button", name=re.compile("^Edit Last name")).click()
    page.get_by_role("textbox", name="Last name").fill("Murray")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("alert").filter(has_text="Someone else changed this contact first").wait_for()
    page.get_by_role("button", name="Edit Last name: Brewster Hopper").wait_for()  # theirs, not overwritten
    assert _api(platform, account["access_token"], "GET", f"/v1/contacts/{grace['id']}")["last_name"] == "Brewster Hopper"


def _column(page: Any, stage: str) -> Any:
    return page.locator(f"section.column[data-stage='{stage}']")


def test_board_moves_a_deal_and_a_refused_move_rolls_back(platform: Platform, account: dict[str, Any],
                                                          open_screen: Any) -> None:
    screen = open_screen()
    page = _sign_in(screen, account)
    page.get_by_role("link", name="Pipeline").click()
    first = page.locator("section.column").first
    first.locator("li[data-deal='Big deal']").wait_for()
    screen.audit("board")
    # Lost needs a lost reason: the board asks for one; giving up puts the card back and says why
    page.locator("li[data-deal='Small deal']").drag_to(_column(page, "Lost"))
    page.get_by_role("dialog", name="Why was Small deal lost?").get_by_role("button", name="Cancel").click()
    page.get_by_role("alert").filter(has_text="Small deal stays where it was").wait_for()
    assert "lost_reason" in page.get_by_role("alert").inner_text()
    first.locator("li[data-deal='Small deal']").wait_for()
    # Someone else changed it meanwhile: the API refuses (412), the card goes back, the board says why
    small = _api(platform, account["access_token"], "GET", "/v1/deals?q=Small")["data"][0]
    _api(platform, account["access_token"], "PATCH", f"/v1/deals/{small['id']}", {"expected_close_date": "2030-01-31"},
         **{"If-Match": str(small["version"])})
    page.get_by_label("Move Small deal to stage").select_option(label="Negotiation")
    page.get_by_role("alert").filter(has_text="could not move it to Negotiation").wait_for()
    assert "changed since version" in page.get_by_role("alert").inner_text()
    first.locator("li[data-deal='Small deal']").wait_for()
    page.wait_for_load_state("networkidle")  # the column refetched: the card has the current version
    # Won is fine: the card settles there and the column counts it
    page.locator("li[data-deal='Big deal']").drag_to(_column(page, "Won"))
    _column(page, "Won").locator("li[data-deal='Big deal']").wait_for()
    page.wait_for_load_state("networkidle")
    assert _column(page, "Won").get_by_test_id("count").inner_text() == "1"
    deals = _api(platform, account["access_token"], "GET", "/v1/deals?q=Big")["data"]
    assert [d["status"] for d in deals] == ["won"]
    # The keyboard's way: the card's stage menu
    page.get_by_label("Move Small deal to stage").select_option(label="Proposal")
    _column(page, "Proposal").locator("li[data-deal='Small deal']").wait_for()


def test_phone_board_and_tickets(platform: Platform, account: dict[str, Any], open_screen: Any) -> None:
    screen = open_screen(PHONE)
    page = _sign_in(screen, account)
    page.get_by_role("link", name="Pipeline").click()
    page.locator("li[data-deal='Small deal']").wait_for()
    screen.audit("board")
    page.get_by_role("link", name="Tickets").click()
    page.get_by_role("link", name=re.compile("Printer on fire")).wait_for()
    screen.audit("tickets")


def test_answer_a_ticket_with_a_reply_and_a_note(platform: Platform, account: dict[str, Any], open_screen: Any) -> None:
    screen = open_screen()
    page = _sign_in(screen, account)
    page.get_by_role("link", name="Tickets").click()
    page.get_by_role("link", name=re.compile("Printer on fire")).wait_for()
    screen.audit("tickets")
    page.get_by_role("button", name="Unassigned").click()
    page.get_by_role("link", name=re.compile("Printer on fire")).click()
    page.get_by_role("heading", name=re.compile("Printer on fire")).wait_for()
    page.get_by_label("Reply to the requester").fill("We are sending a technician.")
    page.get_by_role("button", name="Send reply").click()
    page.get_by_text("We are sending a technician.").wait_for()
    # The reply box empties once the reply's answer is in (the conversation can show it earlier)
    expect(page.get_by_label("Reply to the requester")).to_have_value("")
    page.get_by_label("Internal note").check()
    page.get_by_label("Note for the team").fill("Call facilities too")
    page.get_by_role("button", name="Add note").click()
    page.get_by_text("Call facilities too").wait_for()
    page.get_by_label("Status").select_option("pending")
    page.wait_for_load_state("networkidle")
    screen.audit("ticket")
    ticket_id = account["ticket"]["id"]
    messages = _api(platform, account["access_token"], "GET", f"/v1/tickets/{ticket_id}/messages")["data"]
    assert [m["kind"] for m in messages][-2:] == ["reply", "note"]
    assert _api(platform, account["access_token"], "GET", f"/v1/tickets/{ticket_id}")["status"] == "pending"


def test_another_tenant_editing_urls_sees_nothing(platform: Platform, account: dict[str, Any], open_screen: Any) -> None:
    a_contact = _api(platform, account["access_token"], "GET", "/v1/contacts?q=ada")["data"][0]
    other = platform.signup("Other Co")
    screen = open_screen()
    page = _sign_in(screen, other)
    page.get_by_text("No contacts match.").wait_for()
    screen.goto(f"/contacts/{a_contact['id']}")
    page.get_by_role("alert").filter(has_text="There is no such contact.").wait_for()
    assert page.get_by_text("Lovelace").count() == 0
    screen.goto(f"/tickets/{account['ticket']['id']}")
    page.get_by_role("alert").filter(has_text="There is no such ticket.").wait_for()
    assert page.get_by_text("Printer on fire").count() == 0
    screen.goto("/contacts?q=ada")
    page.get_by_text("No contacts match.").wait_for()


def test_my_day_completes_and_snoozes_in_one_click(platform: Platform, account: dict[str, Any], open_screen: Any) -> None:
    import datetime as dt

    token = account["access_token"]
    today = dt.datetime.now(dt.UTC).date().isoformat()
    yesterday = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    ada = _api(platform, token, "GET", "/v1/contacts?q=lovelace")["data"][0]
    call = _api(platform, token, "POST", "/v1/tasks", {"title": "Call Ada back", "type": "call", "due_date": today,
                                                       "contact_id": ada["id"]})
    _api(platform, token, "POST", "/v1/tasks", {"title": "Send the quote", "due_date": yesterday, "contact_id": ada["id"]})
    for viewport in (PHONE, DESKTOP):
        screen = open_screen(viewport)
        page = _sign_in(screen, account)
        page.get_by_role("link", name=re.compile("^My day")).click()
        page.get_by_role("heading", name=re.compile("^Overdue")).wait_for()
        page.locator("li[data-task='Send the quote']").wait_for()
        screen.audit("my-day")
    page.get_by_role("button", name="Complete Call Ada back").click()
    page.get_by_role("status").filter(has_text="Done: Call Ada back").wait_for()
    page.locator("li[data-task='Call Ada back']").wait_for(state="detached")
    assert _api(platform, token, "GET", f"/v1/tasks/{call['id']}")["done"] is True
    page.get_by_role("button", name="Snooze 1 day: Send the quote").click()
    page.get_by_role("status").filter(has_text="Snoozed until tomorrow").wait_for()
    page.get_by_role("button", name="Create feed address").click()
    assert "/calendar/" in page.get_by_label("Feed address").input_value()


def test_a_won_deal_counts_in_the_forecast(platform: Platform, account: dict[str, Any], open_screen: Any) -> None:
    token = account["access_token"]
    deal = _api(platform, token, "POST", "/v1/deals", {"name": "Forecast deal", "amount": {"amount": "5000", "currency": "EUR"}})
    before = _api(platform, token, "GET", "/v1/forecast")["periods"][0]["won"]
    _api(platform, token, "PATCH", f"/v1/deals/{deal['id']}", {"status": "won"}, **{"If-Match": str(deal["version"])})
    after = _api(platform, token, "GET", "/v1/forecast")["periods"][0]
    assert float(after["won"]) == float(before) + 5000
    screen = open_screen()
    page = _sign_in(screen, account)
    page.get_by_role("link", name="Forecast").click()
    cell = page.locator(f"tr[data-period='{after['period']}'] [data-testid=won]")
    cell.wait_for()
    assert cell.inner_text() == after["won"]
    page.get_by_role("figure").wait_for()
    screen.audit("forecast")


def test_import_a_csv_with_suggested_columns_a_dry_run_and_progress(platform: Platform, account: dict[str, Any],
                                                                    open_screen: Any, tmp_path: Any) -> None:
    rows = ["E-Mail;First Name;Surname;Favourite colour"] + [f"imp{n}@example.com;Imp{n};Orter;blue" for n in range(40)]
    rows.append("not-an-email;Bad;Row;red")
    csv_file = tmp_path / "people.csv"
    csv_file.write_text("\n".join(rows) + "\n", encoding="utf-8")
    screen = open_screen()
    page = _sign_in(screen, account)
    page.get_by_role("link", name="Import CSV").click()
    page.get_by_label(re.compile("^CSV file")).set_input_files(str(csv_file))
    # suggested from the headers; an unknown one is left out
    assert page.get_by_label("E-Mail", exact=True).input_value() == "email"
    assert page.get_by_label("First Name").input_value() == "first_name"
    assert page.get_by_label("Surname").input_value() == "last_name"
    assert page.get_by_label("Favourite colour").input_value() == ""
    screen.audit("import")
    page.get_by_role("button", name="Dry run").click()
    page.get_by_role("heading", name="Dry run completed").wait_for()
    page.get_by_text("40 created, 0 updated, 0 skipped, 1 failed").wait_for()
    assert _api(platform, account["access_token"], "GET", "/v1/contacts?q=Orter")["data"] == []  # a dry run writes nothing
    page.get_by_role("button", name="Import", exact=True).click()
    page.get_by_role("heading", name="Import completed").wait_for()
    page.get_by_text("40 created").wait_for()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the failed rows").click()
    assert "not-an-email" in Path(download.value.path()).read_text()
    page.get_by_role("link", name="Contacts").first.click()
    page.get_by_label("Search").fill("Imp7")
    page.get_by_role("button", name="Apply").click()
    page.get_by_role("link", name="Imp7 Orter").wait_for()


def test_an_invitee_accepts_in_the_console(platform: Platform, account: dict[str, Any], open_screen: Any) -> None:
    email = f"invitee-{uuid.uuid4().hex[:8]}@example.com"
    made = _api(platform, account["access_token"], "POST", "/v1/users", {"email": email, "role": "member"})
    screen = open_screen(PHONE)
    page = screen.goto(f"/accept-invitation?token={made['invitation_token']}")
    page.get_by_role("heading", name="Join your team").wait_for()
    screen.audit("accept-invitation")
    page.get_by_label(re.compile("^Choose a password")).fill("short")
    page.get_by_role("button", name="Accept the invitation").click()
    page.get_by_text("Use 10 to 128 characters.").wait_for()
    page.get_by_label(re.compile("^Choose a password")).fill("a long enough password")
    page.get_by_role("button", name="Accept the invitation").click()
    page.get_by_role("heading", name="Contacts").wait_for()
    page.get_by_role("link", name="Ada Lovelace").wait_for()  # the team's contacts


def test_settings_invites_a_user_and_shows_a_new_key_once(platform: Platform, account: dict[str, Any], open_screen: Any) -> None:
    screen = open_screen()
    page = _sign_in(screen, account)
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("heading", name="Users and roles").wait_for()
    email = f"colleague-{uuid.uuid4().hex[:6]}@example.com"
    page.get_by_label("Email to invite").fill(email)
    page.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_role("button", name="Send invitation").click()
    page.get_by_role("status").filter(has_text=f"Invitation sent to {email}").wait_for()
    page.locator(f"tr[data-user='{email}']").wait_for()
    screen.audit("settings-users")
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="API keys").click()
    page.get_by_label("Key name").fill("Zapier")
    page.get_by_label("contacts:read").check()
    page.get_by_role("button", name="Create key").click()
    key = page.get_by_role("textbox", name="New key").input_value()
    assert key.startswith("crm_")
    assert platform.request("GET", "/v1/contacts", token=key).status == 200
    screen.audit("settings-api-keys")
    page.get_by_role("button", name="I have copied it").click()
    assert page.get_by_role("textbox", name="New key").count() == 0  # shown once
    page.get_by_role("button", name="Revoke Zapier").click()
    page.locator("li[data-key='Zapier']").wait_for(state="detached")
    assert platform.request("GET", "/v1/contacts", token=key).status == 401
