"""Email in (crm.mail.received, handled as the tickets.mail-in consumer does): +support opens a
ticket; a reply threads by reply token, In-Reply-To/References, then [#n], each only for the
ticket's requester or cc's and within the event's tenant; the status rules; automatic mail
ignored; repeats are one message; another tenant's token lands nowhere."""

from __future__ import annotations

from conversation_helpers import create, deliver, mail_requests, outbox, post, received, ticket, tickets, timeline

from crm_testing.apps import ServiceHarness


def _opened(svc: ServiceHarness, tenant: str = "a", **kw: object) -> tuple[dict, dict, dict]:
    """A ticket opened by an email to +support, an agent's reply to it; (ticket, email data, reply mail request)."""
    data = received(tenant, **kw)  # type: ignore[arg-type]
    deliver(svc, tenant, data)
    [rec] = [t for t in tickets(svc, tenant) if t["requester_email"] == data["from"]["address"]][-1:]
    post(svc, rec["id"], tenant, kind="reply", text="Have you tried turning it off?")
    return rec, data, mail_requests(svc)[-1]


def test_mail_to_support_opens_a_ticket(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    files = [{"id": "0190f1c2-0000-7000-8000-000000000001", "filename": "photo.jpg", "content_type": "image/jpeg",
              "content_id": None, "size": 12, "inline": False}]
    data = received(subject="Re: Printer on fire", cc=["boss@example.com", "box-a+support@inbound.localhost"],
                    attachments=files, html="<p>It <script>x</script>smokes.</p>")
    deliver(svc, "a", data)
    [rec] = tickets(svc)
    assert (rec["subject"], rec["channel"], rec["status"]) == ("Printer on fire", "email", "new")
    assert (rec["requester_email"], rec["requester_name"]) == ("ana@example.com", "Ana Lopez")
    assert rec["description"] == "It smokes."
    [msg] = timeline(svc, rec["id"])
    assert msg["kind"] == "customer" and msg["channel"] == "email" and msg["message_id"] == data["message_id"]
    assert msg["author"] == {"type": "customer", "id": None, "email": "ana@example.com", "name": "Ana Lopez"}
    assert msg["html"] == "<p>It smokes.</p>"
    [att] = msg["attachments"]
    assert att["source"] == "mail" and att["url"] == f"/v1/mail/inbound/{data['id']}/attachments/{files[0]['id']}"
    assert [e["type"] for e in outbox(svc) if e["type"].startswith("crm.ticket.")] == [
        "crm.ticket.created", "crm.ticket.message_added"]
    # The agent's reply answers the customer's email and copies the cc (not our own address).
    post(svc, rec["id"], kind="reply", text="On it.")
    [mail] = mail_requests(svc)
    assert mail["subject"] == f"Re: [#{rec['number']}] Printer on fire"
    assert mail["in_reply_to"] == data["message_id"] and mail["references"] == [data["message_id"]]
    assert mail["cc"] == [{"address": "boss@example.com"}]


def test_reply_threads_by_token_then_message_ids_then_number(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    rec, first, mail = _opened(svc)
    reply_id = timeline(svc, rec["id"])[-1]["message_id"]
    # 1. the reply token, whatever the subject and headers say
    deliver(svc, "a", received(tag="t", token=mail["reply_token"], subject="something else", text="by token"))
    # 2. In-Reply-To / References (a client that answered the From: +support, not the Reply-To)
    deliver(svc, "a", received(subject="no number", in_reply_to=reply_id, text="by in-reply-to"))
    deliver(svc, "a", received(subject="no number", references=[first["message_id"], "<x@y>"], text="by references"))
    # 3. [#n] in the subject
    deliver(svc, "a", received(subject=f"Fwd: [#{rec['number']}] still broken", text="by number"))
    assert len(tickets(svc)) == 1
    texts = [m["text"] for m in timeline(svc, rec["id"]) if m["kind"] == "customer"]
    assert texts == ["It smokes.", "by token", "by in-reply-to", "by references", "by number"]


def test_only_the_requester_or_a_cc_threads(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    rec, first, mail = _opened(svc, cc=["boss@example.com"])
    deliver(svc, "a", received(sender="boss@example.com", tag="t", token=mail["reply_token"], text="from the cc"))
    # A stranger with the token, the thread's ids or the number threads nowhere: by token it is
    # dropped (not mail to +support); to +support it opens a ticket of their own.
    deliver(svc, "a", received(sender="eve@evil.example", tag="t", token=mail["reply_token"], text="forged"))
    deliver(svc, "a", received(sender="eve@evil.example", subject=f"[#{rec['number']}] hi",
                               in_reply_to=first["message_id"], text="new request"))
    assert [m["text"] for m in timeline(svc, rec["id"]) if m["kind"] == "customer"] == ["It smokes.", "from the cc"]
    all_tickets = tickets(svc)
    assert [t["requester_email"] for t in all_tickets] == ["ana@example.com", "eve@evil.example"]
    assert [m["text"] for m in timeline(svc, all_tickets[1]["id"])] == ["new request"]


def test_status_rules_of_customer_messages(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    rec, _, mail = _opened(svc)
    assert ticket(svc, rec["id"])["status"] == "open"  # the first public reply opened it

    def answer(text: str) -> None:
        deliver(svc, "a", received(tag="t", token=mail["reply_token"], text=text))

    for before in ("pending", "resolved"):
        assert svc.client.patch(f"/v1/tickets/{rec['id']}", json={"status": before},
                                headers=svc.headers("a")).status_code == 200
        answer(f"on {before}")
        assert ticket(svc, rec["id"])["status"] == "open", before
    svc.client.patch(f"/v1/tickets/{rec['id']}", json={"status": "on_hold"}, headers=svc.headers("a"))
    answer("on hold")
    assert ticket(svc, rec["id"])["status"] == "on_hold"  # waiting on a third party still
    svc.client.patch(f"/v1/tickets/{rec['id']}", json={"status": "closed"}, headers=svc.headers("a"))
    answer("after closing")
    assert ticket(svc, rec["id"])["status"] == "closed"
    old, new = tickets(svc)
    assert new["linked_ticket_id"] == rec["id"] and new["status"] == "new" and new["number"] == rec["number"] + 1
    assert (new["subject"], new["channel"], new["requester_email"]) == (rec["subject"], "email", "ana@example.com")
    assert [m["text"] for m in timeline(svc, new["id"])] == ["after closing"]
    assert "after closing" not in [m["text"] for m in timeline(svc, old["id"])]
    status_changes = [(e["data"]["from"], e["data"]["to"]) for e in outbox(svc, "crm.ticket.status_changed")]
    assert ("pending", "open") in status_changes and ("resolved", "open") in status_changes


def test_agent_reply_rules(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    rec = create(svc, requester_email="ana@example.com", status="on_hold")
    post(svc, rec["id"], kind="reply", text="still waiting on the vendor")
    assert ticket(svc, rec["id"])["status"] == "on_hold"  # only a new ticket opens on a reply
    fresh = create(svc, requester_email="ana@example.com")
    post(svc, fresh["id"], kind="reply", text="Tell us more", status="pending")
    assert ticket(svc, fresh["id"])["status"] == "pending"  # the reply's own status wins


def test_automatic_mail_never_opens_or_threads(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    rec, _, mail = _opened(svc)
    for kind in ("auto_reply", "bounce", "complaint", "loop"):
        deliver(svc, "a", received(kind=kind, subject=f"Out of office [#{rec['number']}]"))
        deliver(svc, "a", received(kind=kind, tag="t", token=mail["reply_token"]))
    flagged = received(text="auto")
    flagged["auto_submitted"] = True
    deliver(svc, "a", flagged)
    for tag in ("log", None, "b", "deal"):
        deliver(svc, "a", received(tag=tag, text=f"tag {tag}"))
    deliver(svc, "a", received(sender="box-a+support@inbound.localhost", text="ourselves"))
    assert len(tickets(svc)) == 1 and len(timeline(svc, rec["id"])) == 2
    assert len(mail_requests(svc)) == 1  # nothing answered


def test_the_same_email_twice_is_one_message(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    rec, _, mail = _opened(svc)
    again = received(tag="t", token=mail["reply_token"], text="once")
    deliver(svc, "a", again)
    deliver(svc, "a", {**again, "id": again["id"]})  # redelivered
    deliver(svc, "a", {**again, "tag": "support", "token": None})  # the copy that went to +support too
    first = received(text="new request")
    deliver(svc, "a", first)
    deliver(svc, "a", first)
    assert [m["text"] for m in timeline(svc, rec["id"]) if m["kind"] == "customer"] == ["It smokes.", "once"]
    assert len(tickets(svc)) == 2


def test_a_reply_token_of_tenant_a_sent_to_tenant_b_lands_nowhere(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    rec, first, mail = _opened(svc, "a")
    create(svc, "b", requester_email="ana@example.com", subject="B's own ticket")  # same requester in B
    b_before = tickets(svc, "b")
    reply_id = timeline(svc, rec["id"])[-1]["message_id"]
    # To B's reply address with A's token, A's thread ids and A's number: B has no such token and
    # message ids; B's ticket with that number (if any) would still need the same requester.
    deliver(svc, "b", received("b", tag="t", token=mail["reply_token"], in_reply_to=reply_id,
                               references=[first["message_id"]], text="cross-tenant"))
    assert tickets(svc, "b") == b_before
    assert [m["text"] for m in timeline(svc, b_before[0]["id"], "b")] == []
    assert "cross-tenant" not in [m["text"] for m in timeline(svc, rec["id"])]
    # To B's +support: a new ticket in B, never a message on A's.
    deliver(svc, "b", received("b", in_reply_to=reply_id, text="b support"))
    assert "b support" not in [m["text"] for m in timeline(svc, rec["id"])]
    assert len(tickets(svc, "b")) == 2 and len(tickets(svc, "a")) == 1
