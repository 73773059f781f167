"""Review findings on the sending side: header injection through CR/LF, addresses that are not
ASCII, and one message's unexpected transport error sinking the whole round."""

from __future__ import annotations

import base64
import email
import email.policy

import pytest
from send_helpers import queue, worker
from sqlalchemy import select

from crm_core.context import tenant_context
from crm_mail.requests import MailRequestError, build_request
from crm_testing.apps import ServiceHarness
from crm_testing.smtp import SmtpSink
from mail.models import MailMessage
from mail.service.render import Identity, render
from mail.service.transport import Job, Result

INJECT = "x\r\nBcc: victim@evil.example"


@pytest.mark.parametrize("fields", [
    {"to": [{"address": "a@example.com", "name": INJECT}]},
    {"to": ["a@example.com"], "cc": [{"address": "c@example.com", "name": "x\nBcc: v@evil.example"}]},
    {"to": ["a@example.com"], "reply_to": [{"address": "r@example.com", "name": INJECT}]},
    {"to": ["a@example.com"], "from_name": INJECT},
    {"to": ["a@example.com"], "in_reply_to": f"<a@b>{INJECT}"},
    {"to": ["a@example.com"], "references": [f"<a@b>{INJECT}"]},
    {"to": ["a@example.com"], "attachments": [{"filename": f"a{INJECT}.txt", "content_type": "text/plain",
                                               "content_base64": "eA=="}]},
    {"to": ["a@example.com"], "attachments": [{"filename": "a.txt", "content_type": f"text/plain; {INJECT}",
                                               "content_base64": "eA=="}]},
    {"to": ["a@example.com"], "attachments": [{"inline": True, "content_id": f"c{INJECT}", "content_type": "image/png",
                                               "content_base64": "eA=="}]},
])
def test_cr_or_lf_in_any_header_bound_field_is_refused(fields: dict[str, object]) -> None:
    with pytest.raises(MailRequestError):
        build_request(subject="s", purpose="transactional", text="hi", **fields)  # type: ignore[arg-type]


def test_a_display_name_from_the_database_cannot_add_a_header() -> None:
    data = build_request(to=["a@example.com"], subject="s", purpose="transactional", text="hi")
    raw = render(data, sender=Identity("n@example.com", INJECT), message_id="<1@x>", reply_to=None)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Bcc"] is None and "victim@evil.example" in str(msg["From"])


def test_a_sender_name_with_a_line_break_is_a_422_naming_the_field(relayed: ServiceHarness) -> None:
    h = relayed.headers("a")
    resp = relayed.client.post("/v1/mail/senders", json={"address": "s@example.com", "name": INJECT}, headers=h)
    assert resp.status_code == 422 and "name" in resp.get_json()["errors"]
    made = relayed.client.post("/v1/mail/senders", json={"address": "s@example.com", "name": "ok"}, headers=h).get_json()
    resp = relayed.client.patch(f"/v1/mail/senders/{made['id']}", json={"name": INJECT}, headers=h)
    assert resp.status_code == 422 and "name" in resp.get_json()["errors"]


def test_a_non_ascii_address_is_refused_up_front_not_dead_lettered_at_render(relayed: ServiceHarness) -> None:
    # It passed build_request, then failed every render (formataddr wants ASCII), so the request
    # was retried and dead-lettered; and a relay without SMTPUTF8 could never take it anyway.
    with pytest.raises(MailRequestError):
        build_request(to=["jos\u00e9@example.com"], subject="s", purpose="transactional", text="hi")
    resp = relayed.client.post("/v1/mail/senders", json={"address": "jos\u00e9@example.com"}, headers=relayed.headers("a"))
    assert resp.status_code == 422 and "address" in resp.get_json()["errors"]


class _Exploding:
    """A transport that fails in a way no except clause foresaw, for one recipient."""

    def __init__(self, inner: object) -> None:
        self.inner = inner

    def send(self, job: Job) -> Result:
        if "boom@example.com" in job.recipients:
            raise RuntimeError("unexpected")
        return self.inner.send(job)  # type: ignore[attr-defined]

    def close(self) -> None:
        self.inner.close()  # type: ignore[attr-defined]


def test_an_unexpected_transport_error_defers_that_message_only(relayed: ServiceHarness, sink: SmtpSink) -> None:
    a, b = relayed.tenant("a"), relayed.tenant("b")
    bad = queue(relayed, a, to=["boom@example.com"])
    good = queue(relayed, b, to=["fine@example.com"])
    w = worker(relayed)
    w.transport = _Exploding(w.transport)  # type: ignore[assignment]
    assert w.deliver_due() == 2
    assert [m.rcpt_tos for m in sink.messages] == [["fine@example.com"]]
    with tenant_context(a), relayed.db.transaction() as session:
        m = session.scalars(select(MailMessage).where(MailMessage.id == bad)).one()
        assert (m.status, m.attempts) == ("deferred", 1) and "RuntimeError" in (m.last_error or "")
    with tenant_context(b), relayed.db.transaction() as session:
        assert session.scalars(select(MailMessage.status).where(MailMessage.id == good)).one() == "sent"


def test_an_attachment_filename_with_non_ascii_still_renders() -> None:
    data = build_request(to=["a@example.com"], subject="s", purpose="transactional", text="hi",
                         attachments=[{"filename": "r\u00e9sum\u00e9.pdf", "content_type": "application/pdf",
                                       "content_base64": base64.b64encode(b"x").decode()}])
    assert b"Content-Disposition" in render(data, sender=Identity("n@example.com"), message_id="<1@x>", reply_to=None)
