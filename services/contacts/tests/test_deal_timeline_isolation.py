"""Deal timelines between tenants, on PostgreSQL (app role, RLS on): B never reads, lists, writes
or infers A's deal timeline; each tenant's deal 5 is its own; A's +deal-5@ mail never reaches B's
deal 5; B cannot answer A's meeting with A's reply token."""

from __future__ import annotations

from deal_timeline_helpers import deal, feed, invitations
from logged_mail_helpers import Api, received
from sqlalchemy import text

from crm_core.context import tenant_context
from crm_testing.apps import ServiceHarness

NOTE = {"type": "note", "body": "A's secret", "occurred_at": "2026-03-01T10:00:00Z"}


def raw_count(svc: ServiceHarness, tenant: str, sql: str) -> int:
    with tenant_context(svc.tenant(tenant)), svc.db.transaction() as session:
        return int(session.execute(text(sql)).scalar_one())


def test_deal_timelines_stay_in_their_tenant(pg_contacts: ServiceHarness) -> None:
    svc = pg_contacts
    a, b = Api(svc, "a"), Api(svc, "b")
    deal_a = deal(svc, "a", 5, "A's deal")
    deal_b = deal(svc, "b", 5, "B's deal")  # the same number in another tenant
    made = a("POST", f"/v1/deals/{deal_a}/activities", NOTE, 201)
    path = f"/v1/deals/{deal_a}/activities"
    b("GET", path, status=404)
    b("POST", path, NOTE, 404)
    b("GET", f"{path}/{made['id']}", status=404)
    b("PATCH", f"{path}/{made['id']}", {"body": "stolen"}, 404)
    b("DELETE", f"{path}/{made['id']}", status=404)
    b("GET", f"/v1/deals/{deal_b}/activities/{made['id']}", status=404)  # not through B's own deal either
    ada_b = b.contact("ada@example.com")
    refused = b("POST", f"/v1/contacts/{ada_b['id']}/activities", {**NOTE, "deal_id": deal_a}, 422)
    assert set(refused["errors"]) == {"deal_id"}
    # The same deal id announced in B (never by the pipeline, which mints ids) is B's own row.
    feed(svc, "b", "crm.deal.updated", {"id": deal_a, "number": 6, "name": "B's twin", "version": 9})
    assert b("GET", f"/v1/deals/{deal_a}/activities")["data"] == []
    assert a("GET", path)["data"][0]["body"] == "A's secret"
    assert raw_count(svc, "b", "SELECT count(*) FROM deal_refs") == 2
    assert raw_count(svc, "b", "SELECT count(*) FROM activities WHERE deal_id IS NOT NULL") == 0

    # A's mail to +deal-5@ lands on A's deal 5 only.
    feed(svc, "a", "crm.mail.received", received(subject="For A's deal", tag="deal", deal_number=5))
    assert [x["subject"] for x in a("GET", path)["data"] if x["type"] == "email"] == ["For A's deal"]
    assert b("GET", f"/v1/deals/{deal_b}/activities")["data"] == []
    # B's +deal-7@ (no deal 7 in B; A has none either) waits in B, never adopted by A's deal 7.
    feed(svc, "b", "crm.mail.received", received(subject="B early", tag="deal", deal_number=7))
    deal_a7 = deal(svc, "a", 7)
    assert a("GET", f"/v1/deals/{deal_a7}/activities")["data"] == []
    assert raw_count(svc, "a", "SELECT count(*) FROM logged_emails WHERE deal_number = 7") == 0


def test_a_reply_token_only_answers_in_its_tenant(pg_contacts: ServiceHarness) -> None:
    svc = pg_contacts
    a = Api(svc, "a")
    ada = a.contact("ada@example.com")
    meeting = a("POST", f"/v1/contacts/{ada['id']}/activities", {
        "type": "meeting", "subject": "Demo", "starts_at": "2026-03-05T10:00:00Z", "send_invitations": True,
        "attendees": [{"email": "bea@example.com"}]}, 201)
    [(request, ics)] = invitations(svc, "a")
    token = request["reply_token"]
    reply = ics.replace("METHOD:REQUEST", "METHOD:REPLY").replace("PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED")
    feed(svc, "b", "crm.mail.received", received(sender="bea@example.com", tag="t", token=token, calendar=reply))
    assert a("GET", f"/v1/contacts/{ada['id']}/activities/{meeting['id']}")["attendees"][0]["status"] == "needs_action"
    feed(svc, "a", "crm.mail.received", received(sender="bea@example.com", tag="t", token=token, calendar=reply))
    assert a("GET", f"/v1/contacts/{ada['id']}/activities/{meeting['id']}")["attendees"][0]["status"] == "accepted"
