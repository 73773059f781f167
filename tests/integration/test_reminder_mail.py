"""A task reminder on the whole platform (PostgreSQL, Kafka, every worker a process): the user's
time zone travels from the gateway to the pipeline's users replica, the pipeline worker's scheduler
fires the reminder on time, and its email arrives over real SMTP at an aiosmtpd relay, beside the
in-app notification."""

from __future__ import annotations

import datetime as dt
import email
import zoneinfo
from collections.abc import Iterator
from email.policy import default
from pathlib import Path

import pytest

from crm_testing.platform import Platform, start_platform, wait_for, wait_for_json
from crm_testing.smtp import SmtpSink

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as s:
        yield s


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, pg_admin_url: str, kafka_bootstrap: str,
             sink: SmtpSink) -> Iterator[Platform]:
    mail = {"CRM_SMTP_URL": sink.url, "CRM_MAIL_RETRY_BASE_SECONDS": "0", "CRM_MAIL_SMTP_TIMEOUT_SECONDS": "5"}
    p = start_platform(Path(tmp_path_factory.mktemp("reminders")), pg_admin_url=pg_admin_url,
                       kafka_bootstrap=kafka_bootstrap, only={"gateway", "pipeline", "mail"}, service_extra={"mail": mail})
    try:
        p.start_workers()
        yield p
    finally:
        p.close()


def test_a_reminder_email_arrives_at_the_relay(platform: Platform, sink: SmtpSink) -> None:
    owner = platform.signup("Reminders Inc")
    token = owner["access_token"]
    assert platform.request("PATCH", "/v1/me", {"time_zone": "Europe/Berlin"}, token=token).status == 200
    # the pipeline knows the user (address, zone) once the gateway's event got through
    wait_for_json(platform, "/v1/tasks/agenda", token, lambda body: body.get("time_zone") == "Europe/Berlin", timeout=60)
    due = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=70)
    created = platform.request("POST", "/v1/tasks", {
        "title": "Call Ada about the renewal", "contact_id": "01a2025e-d30d-7000-b597-2cc15812bf3f",
        "due_at": due.isoformat().replace("+00:00", "Z"),
        "reminders": [{"minutes_before": 1, "channels": ["in_app", "email"]}]}, token=token)
    assert created.status == 201, created.data
    task = created.json()

    def arrived() -> email.message.EmailMessage | None:
        for r in list(sink.messages):
            msg = email.message_from_bytes(r.data, policy=default)
            if owner["email"] in r.rcpt_tos and "Reminder: Call Ada" in str(msg["Subject"]):
                return msg  # type: ignore[return-value]
        return None

    msg = wait_for(arrived, timeout=90, what="the reminder email at the relay")
    received = dt.datetime.now(dt.UTC)
    reminder_at = due - dt.timedelta(minutes=1)
    assert reminder_at - dt.timedelta(seconds=1) <= received <= reminder_at + dt.timedelta(seconds=60)
    text = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    local = due.astimezone(zoneinfo.ZoneInfo("Europe/Berlin"))
    assert "Call Ada about the renewal" in text and f"due {local.strftime('%Y-%m-%d %H:%M')} (Europe/Berlin)" in text
    notes = wait_for_json(platform, "/v1/notifications", token,
                          lambda body: any(n["kind"] == "task_reminder" for n in body.get("data", [])))
    [reminder] = [n for n in notes["data"] if n["kind"] == "task_reminder"]
    assert reminder["subject_id"] == task["id"] and notes["unread_count"] >= 1
    # exactly once: no second message for this reminder (the sink may hold other runs' mail)
    assert sum("Reminder: Call Ada" in str(email.message_from_bytes(r.data, policy=default)["Subject"])
               for r in list(sink.messages) if owner["email"] in r.rcpt_tos) == 1
