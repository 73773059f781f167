"""The console's desk and follow-through screens in Debian's chromium: a ticket's @mentions (the
colleague is notified), assignment to a user and a team, SLA targets; a knowledge-base article
written, previewed as the API renders it, published to the help centre and taken back; an email
verified through the console's own route; follow-ups in My day; a sales target and its attainment
in the forecast. Every screen is checked with axe-core and photographed into var/screenshots/."""

from __future__ import annotations

import email
import re
import time
import uuid
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from console_screen import DESKTOP, PHONE, Screen
from console_screen import api as _api
from console_screen import sign_in as _sign_in

from crm_testing.platform import Platform, wait_for

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery"



@pytest.fixture(scope="module")
def desk(platform: Platform) -> dict[str, Any]:
    """A tenant with a colleague (Grace), a team, an SLA policy and a ticket it applies to."""
    owner = platform.signup("Desk Co")
    token = owner["access_token"]
    grace_email = f"grace-{uuid.uuid4().hex[:6]}@example.com"
    grace = _api(platform, token, "POST", "/v1/users", {"email": grace_email, "name": "Grace Hopper", "role": "member",
                                                        "password": PASSWORD})
    grace_token = _api(platform, "", "POST", "/v1/auth/token", {"email": grace_email, "password": PASSWORD})["access_token"]
    team = _api(platform, token, "POST", "/v1/teams", {"name": "Second line", "assignment_mode": "manual"})
    _api(platform, token, "POST", "/v1/sla-policies", {"name": "Standard", "first_response_minutes": 240,
                                                       "resolution_minutes": 2880})
    ticket = _api(platform, token, "POST", "/v1/tickets", {"subject": "VPN keeps dropping", "requester_email": "ada@example.com",
                                                           "description": "Every ten minutes"})
    return {**owner, "grace": grace, "grace_token": grace_token, "team": team, "ticket": ticket}


def _open_ticket(screen: Screen, desk: dict[str, Any]) -> Any:
    page = _sign_in(screen, desk)
    page.get_by_role("link", name="Tickets").click()
    page.get_by_role("link", name=re.compile("VPN keeps dropping")).click()
    page.get_by_role("heading", name=re.compile("VPN keeps dropping")).wait_for()
    return page


def test_mention_a_colleague_assign_and_see_the_sla(platform: Platform, desk: dict[str, Any], open_screen: Any) -> None:
    token, ticket_id, grace = desk["access_token"], desk["ticket"]["id"], desk["grace"]
    screen = open_screen()
    page = _open_ticket(screen, desk)
    # The SLA targets of the policy, each counting down
    sla = page.get_by_role("region", name="SLA targets")
    sla.get_by_text("Policy: Standard").wait_for()
    assert re.match(r"Due in \d+ h", sla.locator("li[data-target='first_response'] .badge").inner_text())
    assert re.match(r"Due in \d+ h", sla.locator("li[data-target='resolution'] .badge").inner_text())
    # An internal note that mentions Grace: typed, picked from the suggestions with the keyboard
    page.get_by_label("Internal note").check()
    box = page.get_by_label("Note for the team")
    box.press_sequentially("Can you check the tunnel logs, @gra")
    page.get_by_role("listbox", name="People to mention").get_by_role("option", name=re.compile("Grace Hopper")).wait_for()
    screen.audit("ticket-page-mention")
    box.press("Enter")
    box.press_sequentially("thanks")
    assert box.input_value() == f"Can you check the tunnel logs, @[Grace Hopper]({grace['id']}) thanks"
    page.get_by_role("button", name="Add note").click()
    page.get_by_role("list", name="Conversation").locator(".mention", has_text="@Grace Hopper").wait_for()
    note = _api(platform, token, "GET", f"/v1/tickets/{ticket_id}/messages")["data"][-1]
    assert note["kind"] == "note" and note["mentions"] == [grace["id"]]
    mentioned = wait_for(lambda: [n for n in _api(platform, desk["grace_token"], "GET", "/v1/notifications")["data"]
                                  if n["kind"] == "ticket_mention" and n["subject_id"] == ticket_id], what="Grace's notification")
    assert "VPN keeps dropping" in mentioned[0]["title"]
    # Assignment: to Grace, then to the team; priority and a tag
    page.get_by_label("Assignee").select_option(label="Grace Hopper")
    wait_for(lambda: _api(platform, token, "GET", f"/v1/tickets/{ticket_id}")["assignee_id"] == grace["id"], what="assignee")
    page.get_by_label("Team", exact=True).select_option(label="Second line")
    wait_for(lambda: _api(platform, token, "GET", f"/v1/tickets/{ticket_id}")["team_id"] == desk["team"]["id"], what="team")
    page.get_by_label("Priority").select_option("high")
    wait_for(lambda: _api(platform, token, "GET", f"/v1/tickets/{ticket_id}")["priority"] == "high", what="priority")
    page.get_by_label("New tag").fill("VPN")
    page.get_by_role("button", name="Add tag").click()
    page.get_by_role("button", name="Remove tag vpn").wait_for()  # the API lower-cases tags
    saved = _api(platform, token, "GET", f"/v1/tickets/{ticket_id}")
    assert (saved["assignee_id"], saved["team_id"], saved["priority"], saved["tags"]) == (
        grace["id"], desk["team"]["id"], "high", ["vpn"])
    assert page.get_by_label("Assignee").input_value() == grace["id"]
    screen.audit("ticket-page")


def test_phone_ticket_page(platform: Platform, desk: dict[str, Any], open_screen: Any) -> None:
    screen = open_screen(PHONE)
    page = _open_ticket(screen, desk)
    page.get_by_role("region", name="SLA targets").get_by_text("First response").wait_for()
    page.get_by_label("Internal note").check()
    page.get_by_label("Note for the team").press_sequentially("@hop")
    page.get_by_role("listbox", name="People to mention").get_by_role("option", name=re.compile("Grace Hopper")).click()  # a tap picks too
    assert "@[Grace Hopper](" in page.get_by_label("Note for the team").input_value()
    screen.audit("ticket-page")
    # On a phone the knowledge base is reached from Tickets (the main nav keeps to two rows)
    assert page.get_by_role("navigation", name="Main").get_by_role("link", name="Knowledge base").is_hidden()
    page.get_by_role("link", name="← Tickets").click()
    page.get_by_role("link", name="Knowledge base articles").click()
    page.get_by_role("heading", name="Knowledge base").wait_for()
    screen.audit("kb-list")


def _portal_home(platform: Platform, mailbox: str) -> str:
    resp = platform.request("GET", f"/portal/{mailbox}/", headers={"Accept": "text/html"})
    return resp.data.decode() if resp.status == 200 else ""


def test_write_preview_publish_and_unpublish_a_kb_article(platform: Platform, desk: dict[str, Any], open_screen: Any) -> None:
    token = desk["access_token"]
    mailbox = _api(platform, token, "GET", "/v1/mail/addresses")["mailbox"]
    wait_for(lambda: _portal_home(platform, mailbox) != "", what="the help centre of the tenant's mailbox")
    screen = open_screen()
    page = _sign_in(screen, desk)
    page.get_by_role("link", name="Knowledge base").click()
    page.get_by_role("heading", name="Knowledge base").wait_for()
    page.get_by_role("link", name="New article").click()
    page.get_by_label("Title", exact=True).fill("Reconnect the VPN")
    page.get_by_label("Category").fill("Network")
    page.get_by_label("Body (Markdown)").fill("# Steps\n\n1. Open **Settings**\n2. Press *Reconnect*\n\n<script>alert(1)</script>\n")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"/kb/[0-9a-f-]{36}$"))
    article_id = page.url.rsplit("/", 1)[1]
    preview = page.get_by_test_id("kb-preview")
    preview.locator("strong", has_text="Settings").wait_for()  # rendered by the API, shown as it returned it
    assert preview.locator("h1", has_text="Steps").count() == 1
    assert preview.locator("script").count() == 0 and "<script>alert(1)</script>" in preview.inner_text()  # escaped
    saved = _api(platform, token, "GET", f"/v1/kb/articles/{article_id}")
    assert (saved["status"], saved["category"], saved["slug"], saved["locale"]) == ("draft", "Network", "reconnect-the-vpn", "en")
    assert "Reconnect the VPN" not in _portal_home(platform, mailbox)  # a draft is not in the help centre
    screen.audit("kb-article")
    page.get_by_label("Body (Markdown)").fill("# Steps\n\n1. Open **Settings**\n2. Press *Reconnect now*\n")
    page.get_by_role("button", name="Publish").click()
    page.get_by_role("status").filter(has_text="Saved and published").wait_for()
    preview.locator("em", has_text="Reconnect now").wait_for()
    assert _api(platform, token, "GET", f"/v1/kb/articles/{article_id}")["status"] == "published"
    wait_for(lambda: "Reconnect the VPN" in _portal_home(platform, mailbox), what="the article in the help centre")
    assert page.get_by_role("link", name="View in the help centre").get_attribute("href") == \
        f"/portal/{mailbox}/articles/reconnect-the-vpn"
    # The list finds it by search and status
    page.get_by_role("link", name="← Knowledge base").click()
    page.get_by_label("Search articles").fill("reconnect")
    page.get_by_label("Status").select_option("published")
    page.get_by_role("button", name="Apply").click()
    page.locator("tr[data-article='Reconnect the VPN']").wait_for()
    assert "status=published" in page.url
    screen.audit("kb-list")
    page.get_by_label("Status").select_option("draft")
    page.get_by_role("button", name="Apply").click()
    page.get_by_text("No articles match.").wait_for()
    screen.goto(f"/kb/{article_id}")
    page.get_by_role("button", name="Unpublish").click()
    page.get_by_role("status").filter(has_text="Saved (draft)").wait_for()
    assert _api(platform, token, "GET", f"/v1/kb/articles/{article_id}")["status"] == "draft"
    wait_for(lambda: "Reconnect the VPN" not in _portal_home(platform, mailbox), what="the article gone from the help centre")
    # Delete, once confirmed
    page.get_by_role("button", name="Delete this article…").click()
    page.get_by_role("button", name="Cancel").click()
    assert platform.request("GET", f"/v1/kb/articles/{article_id}", token=token).status == 200
    page.get_by_role("button", name="Delete this article…").click()
    page.get_by_role("button", name="Yes, delete it").click()
    page.get_by_role("heading", name="Knowledge base").wait_for()
    assert platform.request("GET", f"/v1/kb/articles/{article_id}", token=token).status == 404


def _verification_links(platform: Platform, to: str) -> list[str]:
    """The links of the verification emails to `to` in the mail service's Maildir, oldest first."""
    found = []
    for path in sorted((platform.var_dir / "mail" / "sent").rglob("*"), key=lambda p: p.stat().st_mtime):
        if not path.is_file():
            continue
        msg = email.message_from_bytes(Path(path).read_bytes(), policy=default)
        if to in str(msg["To"]) and str(msg["Subject"]).startswith("Verify your email"):
            body = msg.get_body(preferencelist=("plain",))
            assert body is not None
            found.append(re.findall(r"https?://\S+", body.get_content())[0])  # type: ignore[union-attr]
    return found


def test_verify_an_email_through_the_console(platform: Platform, open_screen: Any) -> None:
    account = platform.signup("Verify Co")
    first = wait_for(lambda: _verification_links(platform, account["email"]), what="the signup's verification email")
    assert first[0].startswith(platform.gateway_url + "/verify-email?token=")
    screen = open_screen(PHONE)
    page = _sign_in(screen, account)
    banner = page.get_by_role("complementary", name="Email verification")
    banner.get_by_text("is not verified yet").wait_for()
    banner.get_by_role("button", name="Resend the verification email").click()
    banner.get_by_role("status").filter(has_text=f"A new link is on its way to {account['email']}").wait_for()
    screen.audit("verify-banner")
    links = wait_for(lambda: (found := _verification_links(platform, account["email"]))[1:] and found,
                     what="the second verification email")
    started = time.monotonic()
    screen.goto(links[-1].removeprefix(platform.gateway_url))
    page.get_by_role("heading", name="Verify your email").wait_for()
    page.get_by_text(f"Confirm that {account['email']} is your address.").wait_for()
    assert _api(platform, account["access_token"], "GET", "/v1/me")["user"]["email_verified"] is False  # opening verifies nothing
    screen.audit("verify-email")
    page.get_by_role("button", name="Verify my email").click()
    page.get_by_role("status").filter(has_text=f"{account['email']} is verified").wait_for()
    assert _api(platform, account["access_token"], "GET", "/v1/me")["user"]["email_verified"] is True
    page.get_by_role("complementary", name="Email verification").wait_for(state="detached")  # the banner is gone
    assert time.monotonic() - started < 30
    # The first link was replaced by the resend: the screen says so (the API's message)
    screen.goto(first[0].removeprefix(platform.gateway_url))
    page.get_by_role("alert").filter(has_text="invalid or was replaced").wait_for()
    # Signed out, the same route works too (here: the used link answers that it is verified)
    other = open_screen()
    other_page = other.goto(links[-1].removeprefix(platform.gateway_url))
    other_page.get_by_role("status").filter(has_text=f"{account['email']} is verified").wait_for()
    other_page.get_by_role("link", name="Sign in").wait_for()


def test_my_day_shows_follow_ups_with_one_click_actions(platform: Platform, desk: dict[str, Any], open_screen: Any) -> None:
    token, me = desk["access_token"], desk["user"]["id"]
    deal = _api(platform, token, "POST", "/v1/deals", {"name": "Quiet deal", "owner_id": me,
                                                       "amount": {"amount": "3000", "currency": "EUR"}})
    idle = "section[aria-labelledby='followups-deals-with-no-next-step']"
    for viewport in (PHONE, DESKTOP):
        screen = open_screen(viewport)
        page = _sign_in(screen, desk)
        page.get_by_role("link", name=re.compile("^My day")).click()
        page.get_by_role("heading", name="Follow-ups").wait_for()
        page.locator(f"{idle} li[data-follow-up='Quiet deal']").wait_for()
        screen.audit("my-day-follow-ups")
    page.get_by_role("button", name="Plan a call tomorrow: Quiet deal").click()
    page.get_by_role("status").filter(has_text="Planned for tomorrow: Follow up: Quiet deal").wait_for()
    page.locator(f"{idle} li[data-follow-up='Quiet deal']").wait_for(state="detached")
    tasks = _api(platform, token, "GET", f"/v1/tasks?deal_id={deal['id']}")["data"]
    assert [(t["title"], t["type"]) for t in tasks] == [("Follow up: Quiet deal", "call")]
    assert deal["id"] not in [d["id"] for d in _api(platform, token, "GET", "/v1/follow-ups")["deals_without_next_activity"]]
    page.locator("li[data-task='Follow up: Quiet deal']").wait_for()  # on the agenda, for tomorrow


def test_set_a_target_and_see_attainment_in_the_forecast(platform: Platform, desk: dict[str, Any], open_screen: Any) -> None:
    token, me = desk["access_token"], desk["user"]["id"]
    deal = _api(platform, token, "POST", "/v1/deals", {"name": "Won for the target", "owner_id": me,
                                                       "amount": {"amount": "2500", "currency": "EUR"}})
    _api(platform, token, "PATCH", f"/v1/deals/{deal['id']}", {"status": "won"}, **{"If-Match": str(deal["version"])})
    current = _api(platform, token, "GET", "/v1/forecast")["periods"][0]["period"]
    screen = open_screen()
    page = _sign_in(screen, desk)
    page.get_by_role("link", name="Forecast").click()
    page.get_by_role("heading", name="By owner").wait_for()
    page.get_by_label("Owner", exact=True).select_option(me)
    page.get_by_label("Month").select_option(current)
    page.get_by_label("Target (base currency)").fill("10000")
    page.get_by_role("button", name="Set target").click()
    page.get_by_role("status").filter(has_text=f"in {current}: 10000").wait_for()
    row = page.locator(f"tr[data-owner-period='{desk['email']} {current}']")
    row.get_by_test_id("target").filter(has_text="10000.00").wait_for()
    group = next(g for g in _api(platform, token, "GET", "/v1/forecast?group_by=owner")["periods"][0]["groups"]
                 if g["owner_id"] == me)
    assert group["quota"] == "10000.00" and group["attainment"] == pytest.approx(float(group["won"]) / 10000)
    assert row.get_by_test_id("attainment").inner_text() == f"{round(group['attainment'] * 100)} %"
    # Again for the same owner and month: the target changes, no second one
    page.get_by_label("Target (base currency)").fill("5000")
    page.get_by_role("button", name="Set target").click()
    row.get_by_test_id("target").filter(has_text="5000.00").wait_for()
    targets = _api(platform, token, "GET", f"/v1/sales-targets?owner_id={me}&period=month")["data"]
    assert [(t["period_start"], t["amount"]) for t in targets] == [(current, "5000.00")]
    page.get_by_label("Chart").select_option(label=f"By owner in {current}")
    page.get_by_role("figure", name=re.compile(f"per owner in {current}")).wait_for()
    screen.audit("forecast-by-owner")
