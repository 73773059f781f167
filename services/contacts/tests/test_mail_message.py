"""Reading a crm.mail.received event as a message to log (pure functions, no database)."""

from __future__ import annotations

import datetime as dt
import uuid

from logged_mail_helpers import received

from contacts.service.mail_message import html_to_text, is_loggable, message_id, read_message

RECEIVED = "2026-03-02T10:00:00Z"


def test_dates_fall_back_to_the_received_time() -> None:
    at = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)
    assert read_message(received(date="2026-03-02T09:00:00+01:00"), RECEIVED).occurred_at == at - dt.timedelta(hours=2)
    assert read_message(received(date="2026-03-02T09:00:00"), RECEIVED).occurred_at.tzinfo is not None  # naive: UTC
    for bad in (None, "", "Mon, garbage", "2027-01-01T00:00:00Z"):  # missing, unreadable, far in the future
        assert read_message(received(date=bad), RECEIVED).occurred_at == at


def test_participants_threads_and_ids() -> None:
    data = received(sender="Ada@Example.com", to=["ADA@example.com", "bob@example.com", "acme+log@inbound.localhost"],
                    cc=["bob@example.com", "carol@example.com", "not an address"],
                    references=["  <root@x> ", "<mid@x>", "<root@x>"], in_reply_to="mid@x", message_id="<own@x>")
    message = read_message(data, RECEIVED)
    assert message.addresses == ["ada@example.com", "bob@example.com", "carol@example.com"]
    assert [p["role"] for p in message.participants] == ["from", "to", "cc"]
    assert message.from_address == "ada@example.com" and message.from_name == "Ada"
    assert message.references == ["<root@x>", "<mid@x>"] and message.in_reply_to == "<mid@x>"
    root = read_message(received(message_id="<root@x>"), RECEIVED)
    assert message.thread_id() == root.thread_id()  # the root's own id names the thread
    lone = read_message(received(message_id=None) | {"message_id": None}, RECEIVED)
    assert lone.thread_id() == uuid.uuid5(uuid.UUID("1b0c3d2e-6f5a-5e8b-9c1d-7a2b3c4d5e6f"), f"inbound:{lone.inbound_id}")
    assert message_id("  ") is None and message_id(None) is None and message_id("a@b") == "<a@b>"


def test_what_is_logged() -> None:
    assert is_loggable(received())
    assert not is_loggable(received(kind="auto_reply"))
    assert not is_loggable(received(auto_submitted=True))
    assert not is_loggable(received(tag="support"))


def test_html_to_text() -> None:
    markup = ("<html><head><title>T</title><style>p{color:red}</style></head><body><h1>Hi</h1>"
              "<p>One &lt;two&gt;</p><script>alert(1)</script><ul><li>a</li><li>b</li></ul></body></html>")
    assert html_to_text(markup) == "Hi\nOne <two>\na\nb"
