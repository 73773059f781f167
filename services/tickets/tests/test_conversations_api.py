"""/v1/tickets/{id}/messages on the embedded database: replies emailed from the support address with
a reply token and the thread's ids, notes never emailed and notifying their @mentions, attachments,
the status rules, validation, idempotency, and tenant isolation."""

from __future__ import annotations

import base64
import uuid

from conversation_helpers import DOMAIN, create, mail_requests, outbox, post, ticket, timeline

from crm_mail.requests import new_message_id
from crm_testing.apps import ServiceHarness


def test_reply_is_emailed_from_support_with_token_subject_and_message_id(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    rec = create(svc, requester_email="Ana@Example.com", requester_name="Ana Lopez")
    agent = uuid.uuid4()
    resp = svc.client.post(f"/v1/tickets/{rec['id']}/messages", json={
        "kind": "reply", "text": "We are on it.", "cc": ["Boss@Example.com"]}, headers=svc.headers("a", user_id=agent))
    assert resp.status_code == 201, resp.get_json()
    reply = resp.get_json()
    assert resp.headers["Location"] == f"/v1/tickets/{rec['id']}/messages/{reply['id']}"
    assert reply["kind"] == "reply" and reply["channel"] == "email"
    assert reply["author"] == {"type": "agent", "id": str(agent), "email": None, "name": None}
    assert reply["to"] == ["ana@example.com"] and reply["cc"] == ["boss@example.com"]
    assert reply["message_id"] == new_message_id(reply["id"], DOMAIN)
    [mail] = mail_requests(svc)
    assert mail["message_id"] == reply["id"]  # the mail service's message is the ticket message
    assert mail["from"] == {"support": True} and mail["purpose"] == "transactional"
    assert mail["to"] == [{"address": "ana@example.com", "name": "Ana Lopez"}]
    assert mail["cc"] == [{"address": "boss@example.com"}]
    assert mail["subject"] == f"[#{rec['number']}] Printer on fire"
    assert len(mail["reply_token"]) >= 16 and mail["text"] == "We are on it."
    assert mail["refers_to"] == {"type": "ticket", "id": rec["id"]}
    assert mail["in_reply_to"] is None and mail["references"] == []
    # The first public reply opens a new ticket.
    assert ticket(svc, rec["id"])["status"] == "open"
    second = post(svc, rec["id"], kind="reply", text="Still on it.", status="pending")
    mail2 = mail_requests(svc)[1]
    assert mail2["reply_token"] != mail["reply_token"]  # a new token per message
    assert mail2["in_reply_to"] == reply["message_id"] and mail2["references"] == [reply["message_id"]]
    assert mail2["cc"] == [{"address": "boss@example.com"}]  # the ticket's cc's so far
    assert ticket(svc, rec["id"])["status"] == "pending"
    assert [m["id"] for m in timeline(svc, rec["id"])] == [reply["id"], second["id"]]
    added = outbox(svc, "crm.ticket.message_added")
    assert [e["data"]["id"] for e in added] == [reply["id"], second["id"]]
    assert added[0]["data"]["ticket_number"] == rec["number"]


def test_note_is_never_emailed_and_mentions_notify(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    rec = create(svc, requester_email="ana@example.com")
    agent, ben, cleo = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    resp = svc.client.post(f"/v1/tickets/{rec['id']}/messages", json={
        "kind": "note", "text": f"@[Ben]({ben}) and @[Me]({agent}), have a look", "mentions": [str(cleo)],
        "html": "<p onclick='x()'>see <script>alert(1)</script><b>this</b></p>"},
        headers=svc.headers("a", user_id=agent))
    assert resp.status_code == 201, resp.get_json()
    note = resp.get_json()
    assert note["kind"] == "note" and note["to"] == [] and note["message_id"] is None
    assert note["html"] == "<p>see <b>this</b></p>"
    assert set(note["mentions"]) == {str(ben), str(agent), str(cleo)}
    assert mail_requests(svc) == []
    [asked] = outbox(svc, "crm.notification.requested")
    assert asked["topic"] == "crm.tickets.notification"
    data = asked["data"]
    assert sorted(data["user_ids"]) == sorted([str(ben), str(cleo)])  # never the author themselves
    assert (data["kind"], data["subject_type"], data["subject_id"]) == ("ticket_mention", "ticket", rec["id"])
    assert data["actor_id"] == str(agent) and data["data"]["message_id"] == note["id"]
    assert ticket(svc, rec["id"])["status"] == "new"  # a note changes no status
    post(svc, rec["id"], kind="note", text="no mentions here")
    assert len(outbox(svc, "crm.notification.requested")) == 1


def test_attachments_are_stored_mailed_and_served(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    rec = create(svc, requester_email="ana@example.com")
    content = b"%PDF-1.4 manual"
    reply = post(svc, rec["id"], kind="reply", text="The manual.", attachments=[
        {"filename": "manual.pdf", "content_type": "application/pdf",
         "content_base64": base64.b64encode(content).decode()}])
    [listed] = reply["attachments"]
    assert (listed["filename"], listed["size"], listed["source"]) == ("manual.pdf", len(content), "ticket")
    file = svc.client.get(listed["url"], headers=svc.headers("a"))
    assert file.status_code == 200 and file.data == content
    assert file.headers["Content-Type"] == "application/pdf" and "manual.pdf" in file.headers["Content-Disposition"]
    assert file.headers["X-Content-Type-Options"] == "nosniff"
    [mailed] = mail_requests(svc)[0]["attachments"]
    assert base64.b64decode(mailed["content_base64"]) == content and mailed["filename"] == "manual.pdf"
    assert svc.client.get(listed["url"], headers=svc.headers("b")).status_code == 404
    assert svc.client.get(f"/v1/tickets/{rec['id']}/attachments/{uuid.uuid4()}",
                          headers=svc.headers("a")).status_code == 404


def test_validation_names_the_field(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    rec = create(svc, requester_email="ana@example.com")
    cases = [
        ({"text": "x"}, "kind"),
        ({"kind": "email", "text": "x"}, "kind"),
        ({"kind": "reply"}, "text"),
        ({"kind": "reply", "text": "  "}, "text"),
        ({"kind": "reply", "text": "x", "cc": ["not-an-address"]}, "cc.0"),
        ({"kind": "reply", "text": "x", "mentions": [str(uuid.uuid4())]}, "mentions"),
        ({"kind": "note", "text": "x", "cc": ["a@example.com"]}, "cc"),
        ({"kind": "note", "text": "x", "mentions": ["nope"]}, "mentions.0"),
        ({"kind": "reply", "text": "x", "status": "done"}, "status"),
        ({"kind": "reply", "text": "x", "attachments": [{"filename": "a", "content_type": "text/plain",
                                                          "content_base64": "!!"}]}, "attachments.0.content_base64"),
        ({"kind": "reply", "text": "x", "attachments": [{"filename": "a/b", "content_type": "bad",
                                                          "content_base64": ""}]}, "attachments.0.content_type"),
    ]
    for body, field in cases:
        resp = svc.client.post(f"/v1/tickets/{rec['id']}/messages", json=body, headers=svc.headers("a"))
        assert resp.status_code == 422, (body, resp.get_json())
        assert field in resp.get_json()["errors"], (body, resp.get_json())
    assert svc.client.post(f"/v1/tickets/{rec['id']}/messages", data="{", headers={
        **svc.headers("a"), "Content-Type": "application/json"}).status_code == 400
    no_requester = create(svc)
    resp = svc.client.post(f"/v1/tickets/{no_requester['id']}/messages", json={"kind": "reply", "text": "x"},
                           headers=svc.headers("a"))
    assert resp.status_code == 422 and "kind" in resp.get_json()["errors"]
    assert svc.client.get(f"/v1/tickets/{rec['id']}/messages?kind=x", headers=svc.headers("a")).status_code == 400
    assert svc.client.post(f"/v1/tickets/{uuid.uuid4()}/messages", json={"kind": "note", "text": "x"},
                           headers=svc.headers("a")).status_code == 404
    assert svc.client.get("/v1/tickets/not-a-uuid/messages", headers=svc.headers("a")).status_code == 404
    assert mail_requests(svc) == [] and timeline(svc, rec["id"]) == []


def test_closed_ticket_takes_notes_and_a_reopening_reply_only(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    rec = create(svc, requester_email="ana@example.com", status="closed")
    refused = svc.client.post(f"/v1/tickets/{rec['id']}/messages", json={"kind": "reply", "text": "x"},
                              headers=svc.headers("a"))
    assert refused.status_code == 422 and "kind" in refused.get_json()["errors"]
    post(svc, rec["id"], kind="note", text="for the record")
    post(svc, rec["id"], kind="reply", text="Reopened for you.", status="open")
    assert ticket(svc, rec["id"])["status"] == "open" and len(mail_requests(svc)) == 1


def test_idempotency_key_sends_one_reply(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    rec = create(svc, requester_email="ana@example.com")
    h = {**svc.headers("a"), "Idempotency-Key": "reply-1"}
    first = svc.client.post(f"/v1/tickets/{rec['id']}/messages", json={"kind": "reply", "text": "Once"}, headers=h)
    again = svc.client.post(f"/v1/tickets/{rec['id']}/messages", json={"kind": "reply", "text": "Once"}, headers=h)
    assert first.status_code == again.status_code == 201 and first.get_json()["id"] == again.get_json()["id"]
    assert len(timeline(svc, rec["id"])) == 1 and len(mail_requests(svc)) == 1


def test_timeline_pages_in_order(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    rec = create(svc, requester_email="ana@example.com")
    ids = [post(svc, rec["id"], kind="note", text=f"n{i}")["id"] for i in range(5)]
    seen, cursor = [], ""
    while True:
        page = svc.client.get(f"/v1/tickets/{rec['id']}/messages?limit=2&cursor={cursor}",
                              headers=svc.headers("a")).get_json()
        seen += [m["id"] for m in page["data"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == ids
    one = svc.client.get(f"/v1/tickets/{rec['id']}/messages/{ids[2]}", headers=svc.headers("a"))
    assert one.status_code == 200 and one.get_json()["text"] == "n2"
    assert [m["kind"] for m in svc.client.get(f"/v1/tickets/{rec['id']}/messages?kind=reply",
                                              headers=svc.headers("a")).get_json()["data"]] == []


def test_messages_are_isolated_between_tenants(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    c, hb = svc.client, svc.headers("b")
    rec = create(svc, requester_email="ana@example.com")
    note = post(svc, rec["id"], kind="note", text="secret note")
    other = create(svc, "b", requester_email="ana@example.com")
    assert c.get(f"/v1/tickets/{rec['id']}/messages", headers=hb).status_code == 404
    assert c.get(f"/v1/tickets/{rec['id']}/messages/{note['id']}", headers=hb).status_code == 404
    assert c.get(f"/v1/tickets/{other['id']}/messages/{note['id']}", headers=hb).status_code == 404
    for kind in ("note", "reply"):
        assert c.post(f"/v1/tickets/{rec['id']}/messages", json={"kind": kind, "text": "x"},
                      headers=hb).status_code == 404
    assert c.get(f"/v1/tickets/{other['id']}/messages", headers=hb).get_json()["data"] == []
    assert "secret note" not in c.get(f"/v1/tickets/{other['id']}/messages?kind=note", headers=hb).get_data(as_text=True)
    assert [m["text"] for m in timeline(svc, rec["id"])] == ["secret note"]
    assert mail_requests(svc) == []


def test_scopes(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    rec = create(svc, requester_email="ana@example.com")
    read_only = svc.headers("a", scopes=("tickets:read",))
    assert svc.client.get(f"/v1/tickets/{rec['id']}/messages", headers=read_only).status_code == 200
    assert svc.client.post(f"/v1/tickets/{rec['id']}/messages", json={"kind": "note", "text": "x"},
                           headers=read_only).status_code == 403
    assert svc.client.get(f"/v1/tickets/{rec['id']}/messages").status_code == 401


def test_openapi_documents_the_routes(tickets_service: ServiceHarness) -> None:
    paths = tickets_service.client.get("/openapi.json").get_json()["paths"]
    assert {"get", "post"} <= set(paths["/v1/tickets/{ticket_id}/messages"])
    assert "get" in paths["/v1/tickets/{ticket_id}/attachments/{attachment_id}"]
