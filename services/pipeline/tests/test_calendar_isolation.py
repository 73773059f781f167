"""Calendar feeds and meetings between users and tenants, on PostgreSQL (app role, RLS on): a feed
URL serves its own user's items only, never a colleague's nor another tenant's; a revoked URL is
404; B can neither see A's feed state nor read A's feed or meetings rows."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

from calendar_helpers import activity, as_user, events_of, fetch, path_of, public_headers, task, user
from sqlalchemy import text

from crm_core.context import tenant_context
from crm_testing.apps import ServiceHarness

FEED = "/v1/calendar/feed"





def raw_count(svc: ServiceHarness, tenant: str, table: str) -> int:
    with tenant_context(svc.tenant(tenant)), svc.db.transaction() as session:
        return int(session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_feeds_never_show_anyone_elses_items(pg_pipeline: ServiceHarness) -> None:
    svc, c = pg_pipeline, pg_pipeline.client
    ann, bob, bea = user(svc, "a", "ann"), user(svc, "a", "bob"), user(svc, "b", "bea")
    task(svc, "a", ann, "Ann's call", due_at=dt.datetime(2027, 1, 5, 9, tzinfo=dt.UTC))
    task(svc, "a", bob, "Bob's call", due_date=dt.date(2027, 1, 6))
    task(svc, "b", bea, "Bea's call", due_date=dt.date(2027, 1, 6))
    activity(svc, "a", {"id": str(uuid.uuid4()), "type": "meeting", "author_id": str(ann), "subject": "Ann's meeting",
                        "starts_at": "2027-01-07T10:00:00Z"})
    # B's event naming A's user id as author is B's row: it never reaches A's feed.
    activity(svc, "b", {"id": str(uuid.uuid4()), "type": "meeting", "author_id": str(ann), "subject": "Planted by B",
                        "starts_at": "2027-01-07T10:00:00Z"})
    ann_url = c.post(FEED, headers=as_user(svc, "a", "ann")).get_json()["url"]
    bob_url = c.post(FEED, headers=as_user(svc, "a", "bob")).get_json()["url"]
    bea_url = c.post(FEED, headers=as_user(svc, "b", "bea")).get_json()["url"]
    assert set(events_of(fetch(c, svc, ann_url).data)) == {"Ann's call", "Ann's meeting"}
    assert set(events_of(fetch(c, svc, bob_url).data)) == {"Bob's call"}
    assert set(events_of(fetch(c, svc, bea_url).data)) == {"Bea's call"}

    # B's user with A's user id in the credential (a forged principal never gets past the gateway,
    # but even then) sees B's state only: no feed.
    forged = svc.headers("b", user_id=ann)
    assert c.get(FEED, headers=forged).get_json()["active"] is False
    assert c.delete(FEED, headers=forged).status_code == 204
    fetch(c, svc, ann_url)  # still A's, untouched
    assert raw_count(svc, "b", "calendar_feeds") == 1 and raw_count(svc, "a", "calendar_feeds") == 2
    assert raw_count(svc, "b", "meetings") == 1 and raw_count(svc, "a", "meetings") == 1

    # Revoked: 404, and rotating Bob's does not touch Ann's.
    c.post(FEED, headers=as_user(svc, "a", "bob"))
    fetch(c, svc, bob_url, 404)
    fetch(c, svc, ann_url)
    assert c.delete(FEED, headers=as_user(svc, "a", "ann")).status_code == 204
    fetch(c, svc, ann_url, 404)
    fetch(c, svc, bea_url)


def test_concurrent_first_posts_make_one_feed(pg_pipeline: ServiceHarness) -> None:
    svc = pg_pipeline
    headers = as_user(svc, "a", "ann")
    barrier = threading.Barrier(4)

    def post() -> tuple[int, str]:
        client = svc.app.test_client()
        barrier.wait()
        resp = client.post(FEED, headers=headers)
        return resp.status_code, resp.get_json().get("url", "")

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: post(), range(4)))
    assert {status for status, _ in answers} == {201}
    assert raw_count(svc, "a", "calendar_feeds") == 1
    working = [url for _, url in answers if svc.client.get(path_of(url), headers=public_headers(svc)).status_code == 200]
    assert len(working) == 1  # the last rotation wins; the others are dead
