"""Settings, part B, as an admin uses them in Debian's chromium: business hours and SLA policies
(a change touching many open tickets is a recompute job, followed by a progress bar to its end),
mail senders, addresses, DKIM keys and suppressions, and webhooks with their delivery log (a test
delivery to a small server of this test, a failed one retried). Each outcome is checked through
the API; each page is checked with axe-core at 1280×800 and 390×844."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from console_screen import PHONE
from console_screen import api as _api
from console_screen import sign_in as _sign_in

from crm_testing.platform import Platform, start_platform

pytestmark = pytest.mark.integration
OPEN_TICKETS = 5


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, console_built: None) -> Iterator[Platform]:
    """The console's platform, with recomputes of more than two open tickets queued as jobs of one
    ticket a chunk (so that a policy made in the console is followed as a job), and webhook retries
    a few times faster."""
    started = start_platform(
        tmp_path_factory.mktemp("console-settings-b"), CRM_RATE_LIMIT_ANONYMOUS_BURST="1000",
        CRM_RATE_LIMIT_BAD_CREDENTIALS_BURST="1000",
        service_extra={"tickets": {"CRM_SLA_RECOMPUTE_INLINE_MAX": "2", "CRM_SLA_RECOMPUTE_CHUNK": "1"},
                       "automation": {"CRM_WEBHOOK_RETRY_BASE_SECONDS": "0.05"}})
    started.start_workers()
    yield started
    started.close()



def _settings_page(page: Any, name: str) -> None:
    page.get_by_role("link", name="Settings", exact=True).click()
    page.get_by_role("navigation", name="Settings").get_by_role("link", name=name).click()


@pytest.fixture(scope="module")
def account(platform: Platform) -> dict[str, Any]:
    owner = platform.signup("Settings B Co")
    for n in range(OPEN_TICKETS):
        _api(platform, owner["access_token"], "POST", "/v1/tickets", {"subject": f"Open ticket {n}",
                                                                      "requester_email": f"r{n}@example.com"})
    return owner


def test_business_hours_and_a_policy_whose_recompute_is_followed_to_its_end(platform: Platform, account: dict[str, Any],
                                                                          open_screen: Any) -> None:
    token = account["access_token"]
    screen = open_screen()
    page = _sign_in(screen, account)
    _settings_page(page, "SLA and business hours")
    page.get_by_role("heading", name="SLA policies and business hours").wait_for()
    page.get_by_text("No recompute jobs yet").wait_for()
    screen.audit("settings-sla")

    # A calendar: an unknown time zone is refused on its field, then two slots on Monday and a holiday
    page.get_by_role("button", name="Add business hours").click()
    form = page.get_by_role("form", name="New business hours")
    form.get_by_label("Calendar name").fill("Berlin office")
    form.get_by_label("Time zone (IANA)").fill("Mars/Olympus")
    form.get_by_label("Monday slot 1 closes").fill("12:00")
    form.get_by_role("button", name="Add a slot to Monday").click()
    form.get_by_label("Monday slot 2 opens").fill("13:00")
    form.get_by_label("Monday slot 2 closes").fill("17:00")
    form.get_by_role("button", name="Add a holiday").click()
    form.get_by_label("Holiday 1 date").fill("2027-12-24")
    form.get_by_label("Holiday 1 name").fill("Christmas Eve")
    form.get_by_role("button", name="Create calendar").click()
    zone = form.get_by_label("Time zone (IANA)")
    form.get_by_text("Unknown IANA time zone 'Mars/Olympus'.").first.wait_for()
    assert zone.get_attribute("aria-invalid") == "true"
    screen.audit("settings-sla-calendar-error")
    zone.fill("Europe/Berlin")
    form.get_by_role("button", name="Create calendar").click()
    page.locator("li[data-calendar='Berlin office']").wait_for()
    [calendar] = _api(platform, token, "GET", "/v1/business-hours")["data"]
    assert calendar["time_zone"] == "Europe/Berlin"
    assert calendar["frames"]["mon"] == [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}]
    assert calendar["frames"]["tue"] == [{"start": "09:00", "end": "17:00"}] and "sat" not in calendar["frames"]
    assert calendar["holidays"] == [{"date": "2027-12-24", "name": "Christmas Eve"}]

    # A policy: a condition the filter language does not know is refused on its field
    page.get_by_role("button", name="Add an SLA policy").click()
    policy_form = page.get_by_role("form", name="New SLA policy")
    policy_form.get_by_label("Policy name").fill("Everything")
    policy_form.get_by_label(re.compile("^Condition")).fill("colour = 'red'")
    policy_form.get_by_label("First response").fill("60")
    policy_form.get_by_label("Resolution").fill("480")
    policy_form.get_by_label("Business hours").select_option(label="Berlin office")
    policy_form.get_by_role("button", name="Create policy").click()
    condition = policy_form.get_by_label(re.compile("^Condition"))
    policy_form.locator("textarea[aria-invalid='true']").wait_for()
    assert condition.get_attribute("aria-invalid") == "true"
    described = condition.get_attribute("aria-describedby")
    assert "colour" in page.locator(f"[id='{described}']").inner_text()  # the API's message, tied to the field
    assert _api(platform, token, "GET", "/v1/sla-policies")["data"] == []
    # Every ticket: the five open tickets are re-matched by a job, followed to its end
    condition.fill("")
    policy_form.get_by_role("button", name="Create policy").click()
    progress = page.get_by_role("region", name="Recomputing SLA clocks")
    progress.wait_for()
    progress.get_by_role("status").filter(has_text=f"Done: {OPEN_TICKETS} of {OPEN_TICKETS} tickets recomputed.").wait_for()
    assert progress.locator("progress").get_attribute("value") == "100"
    [policy] = _api(platform, token, "GET", "/v1/sla-policies")["data"]
    assert (policy["name"], policy["business_hours_id"], policy["first_response_minutes"], policy["resolution_minutes"],
            policy["condition"]) == ("Everything", calendar["id"], 60, 480, None)
    [job] = _api(platform, token, "GET", "/v1/sla-recomputes")["data"]
    assert (job["status"], job["tickets_done"], job["tickets_total"]) == ("completed", OPEN_TICKETS, OPEN_TICKETS)
    page.locator(f"li[data-recompute='{job['id']}']").filter(has_text="completed").wait_for()
    ticket = _api(platform, token, "GET", "/v1/tickets?limit=1")["data"][0]
    assert _api(platform, token, "GET", f"/v1/tickets/{ticket['id']}/sla")["policy"]["id"] == policy["id"]
    screen.audit("settings-sla-recompute")

    # Keyboard: edit the policy's warning threshold without a mouse
    page.get_by_role("button", name="Edit policy Everything").focus()
    page.keyboard.press("Enter")
    warning = page.get_by_label("Warning at (% of a target elapsed)")
    warning.fill("90")
    warning.press("Enter")
    page.locator("li[data-policy='Everything']").filter(has_text="warns at 90%").wait_for()
    assert _api(platform, token, "GET", f"/v1/sla-policies/{policy['id']}")["warning_threshold"] == 90

    phone = open_screen(PHONE)
    page = _sign_in(phone, account)
    _settings_page(page, "SLA and business hours")
    page.locator("li[data-policy='Everything']").wait_for()
    phone.audit("settings-sla")


def test_mail_senders_addresses_dkim_and_suppressions(platform: Platform, account: dict[str, Any], open_screen: Any) -> None:
    token = account["access_token"]
    screen = open_screen()
    page = _sign_in(screen, account)
    _settings_page(page, "Mail senders and addresses")
    page.get_by_role("heading", name="Mail senders and addresses").wait_for()
    page.get_by_label("Mailbox name").wait_for()
    screen.audit("settings-mail")

    # A sender: the API's refusal on its field, then added and shown as unverified
    page.get_by_label("Sender address").fill("not-an-email")
    page.get_by_role("button", name="Add sender").click()
    address = page.get_by_label("Sender address")
    page.get_by_role("form", name="Add a sender").get_by_text("Not a valid email address.", exact=True).wait_for()
    assert address.get_attribute("aria-invalid") == "true"
    address.fill("support@settings-b.example.com")
    page.get_by_label("Display name").fill("Support team")
    page.get_by_role("button", name="Add sender").click()
    sender_row = page.locator("li[data-sender='support@settings-b.example.com']")
    sender_row.get_by_test_id("sender-status").filter(has_text="unverified").wait_for()
    [sender] = _api(platform, token, "GET", "/v1/mail/senders")["data"]
    assert (sender["address"], sender["name"], sender["verified"]) == ("support@settings-b.example.com", "Support team", False)
    # A second link within the minute is refused, and the console says why
    page.get_by_role("button", name="Resend link to support@settings-b.example.com").click()
    page.get_by_role("alert").filter(has_text="A link was mailed less than a minute ago").wait_for()

    # The inbound webhook secret, shown once
    page.get_by_role("button", name="Make an inbound webhook secret").click()
    secret = page.get_by_role("textbox", name="Secret").input_value()
    assert len(secret) > 20 and secret in page.get_by_label("Inbound webhook address").input_value()
    assert _api(platform, token, "GET", "/v1/mail/addresses")["inbound_webhook"]["configured"] is True
    page.get_by_role("button", name="I have copied it").click()
    assert page.get_by_role("textbox", name="Secret").count() == 0
    page.get_by_role("button", name="Rotate secret of the inbound webhook").wait_for()

    # A DKIM key and the record to publish
    page.get_by_label("Domain", exact=True).fill("settings-b.example.com")
    page.get_by_role("button", name="Generate key").click()
    key_row = page.locator("li[data-dkim='settings-b.example.com']")
    key_row.wait_for()
    assert key_row.get_by_label("Record name").input_value() == "crm._domainkey.settings-b.example.com"
    [key] = _api(platform, token, "GET", "/v1/mail/dkim-keys")["data"]
    assert key_row.get_by_label(re.compile("^Record value")).input_value() == key["dns_record"]["value"]

    # A suppression: added, then lifted after saying yes
    page.get_by_label("Address to suppress").fill("gone@example.com")
    page.get_by_label("Note").fill("Asked by phone")
    page.get_by_role("button", name="Suppress", exact=True).click()
    page.locator("li[data-suppression='gone@example.com']").wait_for()
    [suppression] = _api(platform, token, "GET", "/v1/mail/suppressions")["data"]
    assert (suppression["address"], suppression["reason"], suppression["detail"]) == ("gone@example.com", "manual", "Asked by phone")
    screen.audit("settings-mail-filled")
    page.get_by_role("button", name="Remove the suppression of gone@example.com").click()
    page.get_by_role("button", name="Yes, remove").click()
    page.locator("li[data-suppression='gone@example.com']").wait_for(state="detached")
    assert _api(platform, token, "GET", "/v1/mail/suppressions")["data"] == []

    phone = open_screen(PHONE)
    page = _sign_in(phone, account)
    _settings_page(page, "Mail senders and addresses")
    page.locator("li[data-dkim='settings-b.example.com']").wait_for()
    phone.audit("settings-mail")


class _Receiver:
    """A webhook endpoint on 127.0.0.1: records each POST and answers `status`."""

    def __init__(self) -> None:
        self.status = 200
        self.received: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append({"headers": dict(self.headers), "body": json.loads(body or b"null")})
                self.send_response(receiver.status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if receiver.status < 300 else b"try later")

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/crm"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    r = _Receiver()
    yield r
    r.close()


def test_a_webhook_gets_a_test_delivery_and_a_failed_one_is_retried(platform: Platform, account: dict[str, Any],
                                                                    open_screen: Any, receiver: _Receiver) -> None:
    token = account["access_token"]
    screen = open_screen()
    page = _sign_in(screen, account)
    _settings_page(page, "Webhooks")
    page.get_by_role("heading", name="Webhooks").wait_for()
    page.get_by_text("No webhooks yet.").wait_for()
    screen.audit("settings-webhooks")

    page.get_by_label("Endpoint URL").fill(receiver.url)
    page.get_by_label(re.compile("^Event types")).fill("not an event!")
    page.get_by_role("button", name="Create webhook").click()
    events = page.get_by_label(re.compile("^Event types"))
    page.get_by_role("form", name="New webhook").get_by_text(re.compile("Use an event type like")).first.wait_for()
    assert events.get_attribute("aria-invalid") == "true"
    events.fill("crm.contact.created, crm.deal.*")
    page.get_by_role("button", name="Create webhook").click()
    secret = page.get_by_role("textbox", name="Signing secret").input_value()
    assert secret
    [hook] = _api(platform, token, "GET", "/v1/webhooks")["data"]
    assert (hook["url"], hook["event_types"], hook["active"]) == (receiver.url, ["crm.contact.created", "crm.deal.*"], True)
    page.get_by_role("button", name="I have copied it").click()

    # A test event reaches the server, signed, and shows in the log with its answer
    page.get_by_role("button", name=f"Send test to {receiver.url}").click()
    page.get_by_role("status").filter(has_text="A test event is on its way").wait_for()
    page.get_by_role("link", name=f"Deliveries of {receiver.url}").click()
    row = page.locator("tr[data-event='crm.webhook.test']").first
    row.get_by_test_id("delivery-status").filter(has_text="succeeded").wait_for(timeout=30_000)
    assert row.get_by_test_id("delivery-code").inner_text() == "200"
    assert receiver.received[0]["body"]["type"] == "crm.webhook.test"
    assert receiver.received[0]["headers"]["Webhook-Signature"].startswith("v1,")
    row.get_by_role("button", name="Details of the crm.webhook.test delivery").click()
    details = page.get_by_role("region", name=re.compile("^Delivery "))
    details.get_by_label("Request body").filter(has_text="This is a test event").wait_for()
    details.get_by_text("HTTP 200").wait_for()
    screen.audit("settings-webhook-deliveries")

    # The endpoint fails: the attempts show its answer; disabled, the delivery gives up (failed)
    receiver.status = 503
    page.get_by_role("link", name="All webhooks").click()
    page.get_by_role("button", name=f"Send test to {receiver.url}").click()
    page.get_by_role("status").filter(has_text="A test event is on its way").wait_for()
    page.get_by_role("link", name=f"Deliveries of {receiver.url}").click()
    page.locator("tr[data-event='crm.webhook.test']").first.get_by_test_id("delivery-code").filter(has_text="503").wait_for()
    page.get_by_role("link", name="All webhooks").click()
    page.get_by_role("button", name=f"Disable {receiver.url}").click()
    page.locator(f"li[data-webhook='{receiver.url}']").filter(has_text="disabled").wait_for()
    assert _api(platform, token, "GET", f"/v1/webhooks/{hook['id']}")["active"] is False
    page.get_by_role("link", name=f"Deliveries of {receiver.url}").click()
    failed = page.locator("tr[data-event='crm.webhook.test']").first
    failed.get_by_test_id("delivery-status").filter(has_text="failed").wait_for(timeout=60_000)
    [latest, first] = _api(platform, token, "GET", f"/v1/webhooks/{hook['id']}/deliveries")["data"]
    assert latest["status"] == "failed" and latest["attempts"][0]["status_code"] == 503
    # Retrying while the webhook is disabled is refused, and the console says why
    failed.get_by_role("button", name="Retry the crm.webhook.test delivery").click()
    page.get_by_role("alert").filter(has_text=re.compile("inactive", re.I)).wait_for()
    # Enabled again and the endpoint back: the retry delivers
    page.get_by_role("link", name="All webhooks").click()
    page.get_by_role("button", name=f"Enable {receiver.url}").click()
    page.locator(f"li[data-webhook='{receiver.url}']").filter(has_text="enabled").wait_for()
    receiver.status = 200
    page.get_by_role("link", name=f"Deliveries of {receiver.url}").click()
    retried = page.locator(f"tr[data-delivery='{latest['id']}']")
    retried.get_by_role("button", name="Retry the crm.webhook.test delivery").click()
    retried.get_by_test_id("delivery-status").filter(has_text="succeeded").wait_for(timeout=30_000)
    assert _api(platform, token, "GET", f"/v1/webhooks/{hook['id']}/deliveries/{latest['id']}")["status"] == "succeeded"
    assert first["status"] == "succeeded"

    phone = open_screen(PHONE)
    phone_page = _sign_in(phone, account)
    phone.goto(f"/settings/webhooks/{hook['id']}")
    phone_page.locator(f"tr[data-delivery='{latest['id']}']").wait_for()
    phone.audit("settings-webhook-deliveries")

    # Deleted after saying yes
    page.get_by_role("link", name="All webhooks").click()
    page.get_by_role("button", name=f"Delete the webhook to {receiver.url}").click()
    page.get_by_role("button", name="Yes, delete").click()
    page.get_by_text("No webhooks yet.").wait_for()
    assert platform.request("GET", f"/v1/webhooks/{hook['id']}", token=token).status == 404
