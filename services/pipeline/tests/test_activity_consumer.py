"""The pipeline's consumer of contacts' activity events: a deal's last_activity_at follows what is
logged on its timeline (with a controllable clock), and the meetings replica follows meetings."""

from __future__ import annotations

import datetime as dt
import uuid

from calendar_helpers import activity
from pipeline_helpers import make_deal
from sqlalchemy import select

from crm_core.context import tenant_context
from crm_testing.apps import ServiceHarness
from pipeline.models import Deal
from pipeline.models.calendar import Meeting

NOW = dt.datetime(2027, 5, 10, 12, tzinfo=dt.UTC)


def last_activity(svc: ServiceHarness, deal_id: str) -> dt.datetime | None:
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        value = session.scalar(select(Deal.last_activity_at).where(Deal.id == uuid.UUID(deal_id)))
        return value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None else value


def meetings(svc: ServiceHarness) -> list[Meeting]:
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        rows = list(session.scalars(select(Meeting)))
        session.expunge_all()
        return rows


def test_logged_activities_move_the_deals_last_activity(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    deal, other = make_deal(svc, "a"), make_deal(svc, "a", "Other")
    assert last_activity(svc, deal["id"]) is None
    call = {"id": str(uuid.uuid4()), "type": "call", "deal_id": deal["id"], "occurred_at": "2027-05-09T08:00:00Z"}
    activity(svc, "a", call, now=NOW)
    assert last_activity(svc, deal["id"]) == dt.datetime(2027, 5, 9, 8, tzinfo=dt.UTC)
    # A note is no activity; a meeting still ahead is none yet; the deal never moves back.
    activity(svc, "a", {"id": str(uuid.uuid4()), "type": "note", "deal_id": deal["id"], "occurred_at": "2027-05-10T09:00:00Z"},
             now=NOW)
    activity(svc, "a", {"id": str(uuid.uuid4()), "type": "meeting", "deal_id": deal["id"],
                        "occurred_at": "2027-05-20T09:00:00Z", "starts_at": "2027-05-20T09:00:00Z"}, now=NOW)
    activity(svc, "a", {**call, "occurred_at": "2027-05-01T08:00:00Z"}, "crm.activity.updated", now=NOW)
    assert last_activity(svc, deal["id"]) == dt.datetime(2027, 5, 9, 8, tzinfo=dt.UTC)
    # ... but the meeting ahead is the deal's next activity.
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        upcoming = session.scalar(select(Deal.next_activity_at).where(Deal.id == uuid.UUID(deal["id"])))
    assert upcoming is not None and upcoming.replace(tzinfo=dt.UTC) == dt.datetime(2027, 5, 20, 9, tzinfo=dt.UTC)
    # An email moved from one deal to the other refreshes both.
    email = {"id": str(uuid.uuid4()), "type": "email", "deal_id": other["id"], "occurred_at": "2027-05-10T11:00:00Z"}
    activity(svc, "a", email, "crm.activity.updated", now=NOW, changes={"deal_id": [deal["id"], other["id"]]})
    assert last_activity(svc, other["id"]) == dt.datetime(2027, 5, 10, 11, tzinfo=dt.UTC)
    # A deal of no one (another tenant's id, a deleted deal) is skipped without failing.
    activity(svc, "a", {**call, "id": str(uuid.uuid4()), "deal_id": str(uuid.uuid4())}, now=NOW)


def test_meetings_replica(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    mid, author = uuid.uuid4(), uuid.uuid4()
    base = {"id": str(mid), "type": "meeting", "author_id": str(author), "subject": "Demo",
            "starts_at": "2027-05-20T09:00:00Z", "attendees": [{"email": "Bea@Example.com", "status": "accepted"}, "carl@x.test"]}
    activity(svc, "a", base)
    [row] = meetings(svc)
    assert (row.id, row.author_id, row.title, row.attendees, row.sequence) == (mid, author, "Demo",
                                                                               ["bea@example.com", "carl@x.test"], 0)
    activity(svc, "a", {**base, "version": 3, "location": "Room 2", "sequence": 1}, "crm.activity.updated")
    activity(svc, "a", {**base, "version": 2, "location": "Stale"}, "crm.activity.updated")  # late and older
    [row] = meetings(svc)
    assert (row.location, row.sequence, row.activity_version) == ("Room 2", 1, 3)
    activity(svc, "a", {"id": str(uuid.uuid4()), "type": "call", "occurred_at": "2027-05-01T08:00:00Z"})  # not a meeting
    assert len(meetings(svc)) == 1
    activity(svc, "a", {**base, "version": 4}, "crm.activity.deleted")
    assert meetings(svc) == []
