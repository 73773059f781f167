"""The pipeline board and the deal page as a salesperson uses them, in Debian's chromium: a column's
next page with "Show more", a filter by owner and words that survives a reload, a move into a lost
stage that asks for the reason, and a deal page where fields are edited in place, line items set
the amount as the API computes it, history shows, and activities and tasks are logged and done.
Every screen is audited with axe-core at 1280×800 and 390×844."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from console_screen import DESKTOP, PHONE, Screen, sign_in
from console_screen import api as _api

from crm_testing.platform import Platform

pytestmark = pytest.mark.integration
PAGE = 20  # the board's cards per column and per "Show more"



def _sign_in(screen: Screen, account: dict[str, Any], path: str = "/pipeline") -> Any:
    page = sign_in(screen, account)
    if path != "/contacts":
        page.get_by_role("link", name="Pipeline").click()
        page.get_by_role("heading", name="Pipeline", exact=True).wait_for()
    return page


def _column(page: Any, stage: str) -> Any:
    return page.locator(f"section.column[data-stage='{stage}']")


@pytest.fixture(scope="module")
def account(platform: Platform) -> dict[str, Any]:
    """A tenant with more Lead deals than a column's first page, a colleague who owns two deals,
    a product and a custom deal field, all made through the API."""
    owner = platform.signup("Pipeline Co")
    token = owner["access_token"]
    colleague = _api(platform, token, "POST", "/v1/users", {"email": "colleague@example.com", "name": "Cole League",
                                                             "role": "member"})
    colleague_id = colleague["id"]
    # new deals go to the end of their stage: these four are on the Lead column's first page
    lost = _api(platform, token, "POST", "/v1/deals", {"name": "Lose me", "amount": {"amount": "300", "currency": "EUR"}})
    detail = _api(platform, token, "POST", "/v1/deals", {"name": "Detail deal", "amount": {"amount": "50", "currency": "EUR"}})
    for name in ("Cole's first", "Cole's second"):
        _api(platform, token, "POST", "/v1/deals", {"name": name, "owner_id": colleague_id,
                                                    "amount": {"amount": "2500", "currency": "EUR"}})
    for n in range(PAGE + 5):
        _api(platform, token, "POST", "/v1/deals", {"name": f"Page deal {n:02d}", "amount": {"amount": "100", "currency": "EUR"}})
    _api(platform, token, "POST", "/v1/products", {"name": "Widget", "unit_price": {"amount": "120.00", "currency": "EUR"},
                                                   "tax_percent": "20"})
    _api(platform, token, "POST", "/v1/properties/deals", {"key": "region", "label": "Region", "type": "text"})
    return {**owner, "colleague_id": colleague_id, "lost": lost, "detail": detail}


def test_show_more_and_a_filter_that_survives_a_reload(platform: Platform, account: dict[str, Any], open_screen: Any) -> None:
    screen = open_screen(DESKTOP)
    page = _sign_in(screen, account)
    lead = _column(page, "Lead")
    lead.locator("li.deal").first.wait_for()
    total = PAGE + 5 + 4
    assert lead.get_by_test_id("count").inner_text() == str(total)  # the API's count, not the cards loaded
    assert lead.locator("li.deal").count() == PAGE
    screen.audit("pipeline-board")
    page.get_by_role("button", name=re.compile("^Show more deals in Lead")).click()
    lead.locator("li[data-deal='Page deal 24']").wait_for()
    assert lead.locator("li.deal").count() == total
    assert page.get_by_role("button", name=re.compile("^Show more deals in Lead")).count() == 0
    # the owner filter narrows counts and cards, and is in the URL: a reload keeps it
    page.get_by_label("Owner").select_option(label="Cole League")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(f"owner={account['colleague_id']}"))
    lead.locator("li[data-deal=\"Cole's first\"]").wait_for()
    page.wait_for_load_state("networkidle")
    assert lead.get_by_test_id("count").inner_text() == "2"
    assert lead.locator("li.deal").count() == 2
    page.reload()
    lead.locator("li[data-deal=\"Cole's second\"]").wait_for()
    assert lead.locator("li.deal").count() == 2
    assert page.get_by_label("Owner").input_value() == account["colleague_id"]
    # words of the name and the filter language, and-ed with the owner
    page.get_by_label("Search deals").fill("second")
    page.get_by_label("Filter", exact=True).fill("amount >= 1000")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"q=second"))
    page.get_by_role("status").filter(has_text="1 deals match.").wait_for()
    assert lead.locator("li.deal").count() == 1
    page.reload()
    page.get_by_role("status").filter(has_text="1 deals match.").wait_for()
    assert page.get_by_label("Search deals").input_value() == "second"
    # a bad expression is the API's 400, said on the board
    page.get_by_label("Filter", exact=True).fill("colour = 'red'")
    page.get_by_role("button", name="Apply").click()
    page.get_by_role("alert").filter(has_text="colour").wait_for()
    page.get_by_role("button", name="Clear").click()
    lead.locator("li.deal").nth(PAGE - 1).wait_for()


def test_a_move_into_lost_asks_for_the_reason(platform: Platform, account: dict[str, Any], open_screen: Any) -> None:
    token = account["access_token"]
    reasons = _api(platform, token, "GET", "/v1/settings/pipeline")["lost_reasons"]
    screen = open_screen(DESKTOP)
    page = _sign_in(screen, account)
    card = page.locator("li[data-deal='Lose me']")
    card.drag_to(_column(page, "Lost"))
    dialog = page.get_by_role("dialog", name="Why was Lose me lost?")
    dialog.wait_for()
    assert dialog.get_by_label("Lost reason").locator("option").all_inner_texts()[1:] == reasons
    screen.audit("pipeline-lost-reason")
    dialog.get_by_label("Lost reason").select_option(reasons[-1])
    dialog.get_by_label("Note (optional)").fill("Went with a competitor")
    dialog.get_by_role("button", name="Mark as lost").click()
    _column(page, "Lost").locator("li[data-deal='Lose me']").wait_for()
    page.wait_for_load_state("networkidle")
    assert _column(page, "Lost").get_by_test_id("count").inner_text() == "1"
    deal = _api(platform, token, "GET", f"/v1/deals/{account['lost']['id']}")
    assert (deal["status"], deal["lost_reason"], deal["lost_note"]) == ("lost", reasons[-1], "Went with a competitor")


def test_the_deal_page_edits_in_place_and_logs_work(platform: Platform, account: dict[str, Any], open_screen: Any) -> None:
    token = account["access_token"]
    deal_id = account["detail"]["id"]
    screen = open_screen(DESKTOP)
    page = _sign_in(screen, account)
    page.get_by_role("link", name="Detail deal").click()
    page.wait_for_url(re.compile(f"/deals/{deal_id}"))
    page.get_by_role("heading", name="Detail deal").wait_for()
    # a field in place
    page.get_by_role("button", name=re.compile("^Edit Close date")).click()
    page.get_by_label("Close date", exact=True).fill("2031-06-30")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("button", name="Edit Close date: 2031-06-30").wait_for()
    page.get_by_role("button", name=re.compile("^Edit Region")).click()
    page.get_by_role("textbox", name="Region").fill("EMEA")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("button", name="Edit Region: EMEA").wait_for()
    saved = _api(platform, token, "GET", f"/v1/deals/{deal_id}")
    assert (saved["expected_close_date"], saved["properties"]["region"]) == ("2031-06-30", "EMEA")
    # a line item: the deal's amount becomes the sum of the net amounts, as the API computes it
    form = page.get_by_role("form", name="Add a line item")
    form.get_by_label("Product").select_option(label="Widget (€120.00)")
    form.get_by_label("Quantity").fill("3")
    form.get_by_label("Discount %").fill("10")
    form.get_by_role("button", name="Add line item").click()
    page.locator("tr[data-item='Widget']").wait_for()
    page.get_by_role("button", name=re.compile("^Edit Amount")).wait_for(state="detached")  # now from the line items
    saved = _api(platform, token, "GET", f"/v1/deals/{deal_id}")
    assert (saved["amount"]["amount"], saved["has_line_items"]) == ("324.00", True)  # 3 x 120 less 10 %
    page.get_by_test_id("deal-amount").filter(has_text="324.00").wait_for()
    # edit the line: the amount follows
    page.get_by_role("button", name="Edit Widget").click()
    page.get_by_role("form", name="Edit Widget").get_by_label("Quantity").fill("1")
    page.get_by_role("form", name="Edit Widget").get_by_role("button", name="Save").click()
    page.get_by_test_id("deal-amount").filter(has_text="108.00").wait_for()
    assert _api(platform, token, "GET", f"/v1/deals/{deal_id}")["amount"]["amount"] == "108.00"
    # history: the amount and close date changes the API logged
    history = page.get_by_role("list", name="Changes")
    history.get_by_text(re.compile(r"^Amount: 324\.00 EUR → 108\.00 EUR")).wait_for()
    history.get_by_text(re.compile(r"^Close date: none → 2031-06-30")).wait_for()
    # the timeline: a call
    timeline = page.get_by_role("form", name="Log an activity")
    timeline.get_by_label("Kind").select_option("call")
    timeline.get_by_label("Subject").fill("Discovery call")
    timeline.get_by_label("What happened").fill("They want three widgets")
    timeline.get_by_role("button", name="Add to timeline").click()
    page.get_by_role("list", name="Activities").get_by_text("They want three widgets").wait_for()
    activities = _api(platform, token, "GET", f"/v1/deals/{deal_id}/activities")["data"]
    assert [(a["type"], a["subject"]) for a in activities] == [("call", "Discovery call")]
    # a task, then done in one click
    due = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    tasks = page.get_by_role("form", name="Add a task")
    tasks.get_by_label("Task").fill("Send the quote")
    tasks.get_by_label("Due date").fill(due)
    tasks.get_by_role("button", name="Add task").click()
    page.locator("li[data-task='Send the quote']").get_by_text(f"due {due}").wait_for()
    task = _api(platform, token, "GET", f"/v1/tasks?deal_id={deal_id}")["data"][0]
    assert (task["title"], task["due_date"], task["done"]) == ("Send the quote", due, False)
    page.wait_for_load_state("networkidle")
    screen.audit("deal-page")
    page.get_by_role("button", name="Complete Send the quote").click()
    page.locator("li[data-task='Send the quote'].done").wait_for()
    assert _api(platform, token, "GET", f"/v1/tasks/{task['id']}")["done"] is True
    # remove the line: the deal keeps the last amount (the API's rule) and the line is gone
    page.get_by_role("button", name="Remove Widget").click()
    page.locator("tr[data-item='Widget']").wait_for(state="detached")
    assert _api(platform, token, "GET", f"/v1/deals/{deal_id}/line-items")["data"] == []


def test_board_and_deal_page_on_a_phone(platform: Platform, account: dict[str, Any], open_screen: Any) -> None:
    screen = open_screen(PHONE)
    page = _sign_in(screen, account)
    _column(page, "Lead").locator("li.deal").first.wait_for()
    screen.audit("pipeline-board")
    page.get_by_label("Move Page deal 00 to stage").select_option(label="Qualified")
    _column(page, "Qualified").locator("li[data-deal='Page deal 00']").wait_for()
    page.get_by_role("link", name="Page deal 00").click()
    page.get_by_role("heading", name="Page deal 00").wait_for()
    page.get_by_role("button", name="Edit Stage: Qualified").wait_for()
    page.get_by_role("button", name=re.compile("^Edit Name")).click()
    page.get_by_role("textbox", name="Name", exact=True).fill("Page deal 00 renamed")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("heading", name="Page deal 00 renamed").wait_for()
    page.get_by_role("list", name="Changes").get_by_text("Stage: Lead → Qualified").wait_for()
    screen.audit("deal-page")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # nothing wider than the phone
