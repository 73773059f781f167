"""Mail to <mailbox>+log@ on the timeline: crm.mail.received events on the event log, consumed by
contacts.timeline, become email activities on every participating contact, threaded; unmatched
mail is kept, listed, and picked up by a contact created or changed later, or assigned by hand."""

from __future__ import annotations

import uuid

import pytest
from logged_mail_helpers import Api, consume, publish, received
from sqlalchemy import func, select

from contacts.models import Activity, LoggedEmail, logged_email_addresses
from crm_core.context import tenant_context
from crm_testing.apps import ServiceHarness


@pytest.fixture(params=["sqlite", "postgres"])
def svc(request: pytest.FixtureRequest) -> ServiceHarness:
    """Every test on SQLite and on PostgreSQL (app role, RLS on)."""
    return request.getfixturevalue("contacts_service" if request.param == "sqlite" else "pg_contacts")


def count(svc: ServiceHarness, tenant: str, model: type) -> int:
    with tenant_context(svc.tenant(tenant)), svc.db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_logged_message_lands_on_every_participating_contact(svc: ServiceHarness) -> None:
    api = Api(svc)
    ada = api.contact("ada@example.com", first_name="Ada")
    bob = api.contact("bob@work.example", emails=["Bob.Smith@Example.org"])  # cc'd on an additional email
    carol = api.contact("carol@example.com")
    data = received(sender="Ada@Example.com", to=["me@ourco.example", f"acme+log@{'inbound.localhost'}"],
                    cc=["bob.smith@example.org"], subject="Pricing for 2026", text="Dear team,\n\nthe numbers.",
                    date="2026-03-02T09:30:00+01:00")
    publish(svc, "a", data)
    assert consume(svc) == 1

    [on_ada] = api.timeline(ada["id"])
    [on_bob] = api.timeline(bob["id"])
    assert api.timeline(carol["id"]) == []
    assert on_ada["type"] == "email" and on_ada["direction"] == "inbound"  # Ada wrote it
    assert on_bob["direction"] == "outbound"  # Bob did not: he was written to
    assert on_ada["subject"] == "Pricing for 2026" and on_ada["body"] == "Dear team,\n\nthe numbers."
    assert on_ada["occurred_at"] == "2026-03-02T08:30:00Z"
    assert on_ada["inbound_id"] == data["id"] and on_ada["message_id"] == data["message_id"]
    assert on_ada["thread_id"] == on_bob["thread_id"] and on_ada["in_reply_to"] is None and on_ada["references"] == []
    # The CRM's own +log@ address is no participant.
    assert [(p["address"], p["role"]) for p in on_ada["participants"]] == [
        ("ada@example.com", "from"), ("me@ourco.example", "to"), ("bob.smith@example.org", "cc")]
    assert api("GET", f"/v1/contacts/{ada['id']}")["last_contacted_at"] == "2026-03-02T08:30:00Z"
    [logged] = api.logged("?status=matched")
    assert logged["id"] == data["id"] and sorted(logged["contact_ids"]) == sorted([ada["id"], bob["id"]])
    assert logged["from"] == {"address": "ada@example.com", "name": "Ada"} and logged["snippet"] == "Dear team, the numbers."
    assert "body" not in logged and api.logged("?status=unmatched") == []

    # The user writes to Ada and BCCs the CRM: outbound on Ada's timeline.
    publish(svc, "a", received(sender="me@ourco.example", to=["ada@example.com"], subject="Re: Pricing"))
    consume(svc)
    latest = api.timeline(ada["id"], "?sort=-occurred_at")
    assert len(latest) == 2 and {a["direction"] for a in latest} == {"inbound", "outbound"}
    # Other types do not show the email fields; manual emails show them as null.
    note = api("POST", f"/v1/contacts/{ada['id']}/activities", {"type": "note", "body": "called back"}, 201)
    assert "thread_id" not in note and "participants" not in note
    manual = api("POST", f"/v1/contacts/{ada['id']}/activities",
                 {"type": "email", "direction": "outbound", "subject": "hi"}, 201)
    assert manual["thread_id"] is None and manual["inbound_id"] is None
    api("POST", f"/v1/contacts/{ada['id']}/activities",
        {"type": "email", "direction": "outbound", "subject": "hi", "thread_id": str(uuid.uuid4())}, 422)


def test_three_messages_of_a_conversation_share_a_thread(svc: ServiceHarness) -> None:
    api = Api(svc)
    ada = api.contact("ada@example.com")
    first = received(message_id="<m1@example.com>", subject="Demo", date="2026-03-01T10:00:00Z")
    second = received(sender="me@ourco.example", to=["ada@example.com"], message_id="<m2@ourco.example>",
                      in_reply_to="<m1@example.com>", references=["<m1@example.com>"], subject="Re: Demo",
                      date="2026-03-01T11:00:00Z")
    third = received(message_id="<m3@example.com>", in_reply_to="<m2@ourco.example>",
                     references=["<m1@example.com>", "<m2@ourco.example>"], subject="Re: Re: Demo",
                     date="2026-03-01T12:00:00Z")
    # A reply whose client dropped References joins through In-Reply-To to a known message.
    fourth = received(message_id="<m4@example.com>", in_reply_to="<m3@example.com>", subject="Re: Demo",
                      date="2026-03-01T13:00:00Z")
    other = received(message_id="<x1@example.com>", subject="Something else", date="2026-03-01T14:00:00Z")
    publish(svc, "a", third, first, second)  # out of order: the thread id comes from the root all the same
    consume(svc)
    publish(svc, "a", fourth, other)
    consume(svc)

    timeline = api.timeline(ada["id"], "?type=email&sort=occurred_at")
    assert [a["message_id"] for a in timeline] == ["<m1@example.com>", "<m2@ourco.example>", "<m3@example.com>",
                                                   "<m4@example.com>", "<x1@example.com>"]
    thread = timeline[0]["thread_id"]
    assert {a["thread_id"] for a in timeline[:4]} == {thread} and timeline[4]["thread_id"] != thread
    assert [a["direction"] for a in timeline[:3]] == ["inbound", "outbound", "inbound"]
    assert timeline[2]["references"] == ["<m1@example.com>", "<m2@ourco.example>"]
    # The latest message finds the earlier ones of its conversation.
    found = api.timeline(ada["id"], f"?thread_id={timeline[3]['thread_id']}&sort=occurred_at")
    assert [a["subject"] for a in found] == ["Demo", "Re: Demo", "Re: Re: Demo", "Re: Demo"]
    assert [e["subject"] for e in api.logged(f"?thread_id={thread}")] == ["Re: Demo", "Re: Re: Demo", "Re: Demo", "Demo"]
    assert api.timeline(ada["id"], f"?thread_id={uuid.uuid4()}") == []
    bad = svc.client.get(f"/v1/contacts/{ada['id']}/activities?thread_id=nope", headers=svc.headers("a"))
    assert bad.status_code == 400 and "thread_id" in bad.get_json()["errors"]


def test_the_same_message_twice_is_logged_once(svc: ServiceHarness) -> None:
    api = Api(svc)
    ada = api.contact("ada@example.com")
    data = received()
    [event] = publish(svc, "a", data)
    publish(svc, "a", data, event_id=event.id)  # the same event delivered again
    publish(svc, "a", data)  # the same inbound message announced again (a new event id)
    assert consume(svc) == 3
    assert len(api.timeline(ada["id"])) == 1
    assert len(api.logged()) == 1 and count(svc, "a", Activity) == 1


def test_auto_replies_bounces_loops_and_other_tags_are_not_logged(svc: ServiceHarness) -> None:
    api = Api(svc)
    ada = api.contact("ada@example.com")
    publish(svc, "a", received(kind="auto_reply", auto_submitted=True, subject="Out of office"),
            received(kind="bounce"), received(kind="loop"), received(kind="complaint"),
            received(auto_submitted=True), received(tag="support"), received(tag=None), received(tag="t", token="abc"))
    assert consume(svc) == 8
    assert api.timeline(ada["id"]) == [] and api.logged() == []
    assert count(svc, "a", LoggedEmail) == 0


def test_html_only_and_long_bodies(svc: ServiceHarness) -> None:
    api = Api(svc)
    ada = api.contact("ada@example.com")
    publish(svc, "a", received(text=None, html="<p>Hello <b>Ada</b> &amp; team</p><p>Line two<br>three</p>"),
            received(text="x" * 50_000, subject=None))
    consume(svc)
    bodies = {a["body"][:5]: a for a in api.timeline(ada["id"])}
    assert bodies["Hello"]["body"] == "Hello Ada & team\nLine two\nthree"
    long = bodies["xxxxx"]
    assert len(long["body"]) == 20_000 and long["body"].endswith("…") and long["subject"] is None


def test_unmatched_mail_is_kept_listed_and_picked_up_by_a_later_contact(svc: ServiceHarness) -> None:
    api = Api(svc)
    data = received(sender="dora@example.com", cc=["eve@example.com"], subject="Intro", text="Nice to meet you")
    other = received(sender="me@ourco.example", to=["finn@example.com"], subject="Follow-up")
    publish(svc, "a", data, other)
    consume(svc)
    listed = api.logged("?status=unmatched")
    assert {e["subject"] for e in listed} == {"Intro", "Follow-up"} and all(e["contact_ids"] == [] for e in listed)
    one = api("GET", f"/v1/logged-emails/{data['id']}")
    assert one["status"] == "unmatched" and one["body"] == "Nice to meet you" and one["matched_at"] is None

    dora = api.contact("Dora@Example.com")  # created later: the waiting message is logged on her now
    [activity] = api.timeline(dora["id"])
    assert activity["subject"] == "Intro" and activity["direction"] == "inbound" and activity["inbound_id"] == data["id"]
    one = api("GET", f"/v1/logged-emails/{data['id']}")
    assert one["status"] == "matched" and one["contact_ids"] == [dora["id"]] and one["matched_at"]
    # Marked matched, it waits no more: Eve, created after, does not get it (matching happens once).
    eve = api.contact("eve@example.com")
    assert api.timeline(eve["id"]) == []
    assert [e["subject"] for e in api.logged("?status=unmatched")] == ["Follow-up"]

    # An update that adds the address picks it up too.
    gus = api.contact("gus@example.com")
    api("PATCH", f"/v1/contacts/{gus['id']}", {"emails": ["finn@example.com"]})
    [picked] = api.timeline(gus["id"])
    assert picked["subject"] == "Follow-up" and picked["direction"] == "outbound"
    assert api.logged("?status=unmatched") == []
    assert count(svc, "a", logged_email_addresses) == 0


def test_batch_create_picks_up_unmatched_mail(svc: ServiceHarness) -> None:
    api = Api(svc)
    publish(svc, "a", received(sender="hal@example.com", subject="From Hal"))
    consume(svc)
    out = api("POST", "/v1/contacts/batch", {"mode": "create", "items": [{"email": "ivy@example.com"},
                                                                         {"email": "hal@example.com"}]})
    hal = out["results"][1]["id"]
    assert [a["subject"] for a in api.timeline(hal)] == ["From Hal"]


def test_assign_by_hand(svc: ServiceHarness) -> None:
    api = Api(svc)
    kim = api.contact("kim@example.com")
    data = received(sender="nobody@elsewhere.example", subject="Who is this")
    publish(svc, "a", data)
    consume(svc)
    path = f"/v1/logged-emails/{data['id']}/assign"
    body = api("POST", path, {"contact_id": kim["id"]})
    assert body["status"] == "matched" and body["contact_ids"] == [kim["id"]]
    again = api("POST", path, {"contact_id": kim["id"]})  # once per contact
    assert again["contact_ids"] == [kim["id"]]
    [activity] = api.timeline(kim["id"])
    assert activity["direction"] == "outbound" and activity["subject"] == "Who is this"
    api("POST", path, {}, 422)
    api("POST", path, {"contact_id": "nope"}, 422)
    api("POST", path, {"contact_id": str(uuid.uuid4())}, 404)
    api("POST", f"/v1/logged-emails/{uuid.uuid4()}/assign", {"contact_id": kim["id"]}, 404)
    api("GET", "/v1/logged-emails/nope", status=404)
    api("GET", "/v1/logged-emails?status=lost", status=400)
    # Scopes: reading needs contacts:read, assigning contacts:write.
    read_only = svc.headers("a", scopes=["contacts:read"])
    assert svc.client.get("/v1/logged-emails", headers=read_only).status_code == 200
    assert svc.client.post(path, json={"contact_id": kim["id"]}, headers=read_only).status_code == 403
    assert svc.client.get("/v1/logged-emails", headers=svc.headers("a", scopes=["deals:read"])).status_code == 403


def test_an_import_picks_up_unmatched_mail_with_one_lookup_per_batch(svc: ServiceHarness) -> None:
    from sqlalchemy import event
    from test_imports import run_jobs, upload

    api = Api(svc)
    publish(svc, "a", received(sender="liz@example.com", subject="From Liz"),
            received(sender="me@ourco.example", to=["max@example.com"], subject="To Max"))
    consume(svc)
    lookups: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith("SELECT") and "FROM logged_email_addresses" in statement:
            lookups.append(statement)

    resp = upload(svc, "a", "email,first_name\nliz@example.com,Liz\nmax@example.com,Max\nnat@example.com,Nat\n")
    assert resp.status_code == 202, resp.get_json()
    event.listen(svc.db.engine, "before_cursor_execute", seen)
    try:
        assert run_jobs(svc) == 1
    finally:
        event.remove(svc.db.engine, "before_cursor_execute", seen)
    assert len(lookups) == 1  # one batch, one lookup for all its rows
    people = {c["email"]: c["id"] for c in api("GET", "/v1/contacts?limit=10")["data"]}
    assert [a["subject"] for a in api.timeline(people["liz@example.com"])] == ["From Liz"]
    assert [a["direction"] for a in api.timeline(people["max@example.com"])] == ["outbound"]
    assert api.timeline(people["nat@example.com"]) == []
    assert api.logged("?status=unmatched") == []


def test_erasing_a_contact_forgets_their_logged_mail(svc: ServiceHarness) -> None:
    api = Api(svc)
    ada, bob = api.contact("ada@example.com"), api.contact("bob@example.com")
    only_ada = received(sender="ada@example.com", subject="Just Ada")
    both = received(sender="ada@example.com", cc=["bob@example.com"], subject="Ada and Bob")
    waiting = received(sender="me@ourco.example", to=["ada.private@example.net"], subject="Unmatched")
    publish(svc, "a", only_ada, both, waiting)
    consume(svc)
    api("PATCH", f"/v1/contacts/{ada['id']}", {"emails": ["ada.private@example.net"]})  # adopts the unmatched one
    assert len(api.timeline(ada["id"])) == 3

    api("POST", f"/v1/contacts/{ada['id']}/erase")
    api("GET", f"/v1/logged-emails/{only_ada['id']}", status=404)
    api("GET", f"/v1/logged-emails/{waiting['id']}", status=404)
    kept = api("GET", f"/v1/logged-emails/{both['id']}")
    assert kept["contact_ids"] == [bob["id"]] and kept["from"] is None
    assert [p["address"] for p in kept["participants"]] == ["me@ourco.example", "bob@example.com"]
    [on_bob] = api.timeline(bob["id"])
    assert "ada@example.com" not in str(on_bob) and on_bob["direction"] == "outbound"
    assert count(svc, "a", LoggedEmail) == 1 and count(svc, "a", logged_email_addresses) == 0
