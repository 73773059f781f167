"""Weekly forecast snapshots (the worker loop with a controlled clock, POST /v1/forecast/snapshots)
and GET /v1/forecast/accuracy: past snapshots against what was won, slipped deals, isolation.

amount_in_base, forecast_category and won_at are set by a direct SQL update (sales_helpers.set_deal).
"""

from __future__ import annotations

import datetime as dt
import uuid

from pipeline_helpers import make_deal, make_pipeline, outbox_events, patch, stage
from sales_helpers import get, set_deal
from sqlalchemy import func, select, text

from crm_core import context
from crm_events.outbox import Outbox
from crm_testing.apps import ServiceHarness
from pipeline.models import metadata
from pipeline.models.forecast import ForecastSchedule, ForecastSnapshot
from pipeline.periods import Period, parse_label
from pipeline.snapshots import ForecastSnapshotter, horizon, next_due, take_snapshot, week_start

STAGES = [{"name": "Lead", "probability": 10}, {"name": "Demo", "probability": 50},
          {"name": "Won", "probability": 100, "kind": "won"}, {"name": "Lost", "probability": 0, "kind": "lost"}]
# The loop's clock: next Monday, 09:00 (after the schedule's due time, which is when the first deal
# was written). M is the month after, N the one after that: both inside the snapshot's horizon.
MONDAY = next_due(dt.datetime.now(dt.UTC)) + dt.timedelta(hours=9)
M = Period.of("month", MONDAY.date()) + 1
N = M + 1
OWNER = str(uuid.uuid4())


def day(period: Period, n: int) -> str:
    return (period.start + dt.timedelta(days=n - 1)).isoformat()


def _deal(svc: ServiceHarness, p: dict, name: str, close: str, base: str, category: str, tenant: str = "a") -> dict:
    deal = make_deal(svc, tenant, name=name, pipeline_id=p["id"], stage_id=stage(p, "Demo")["id"], owner_id=OWNER,
                     amount={"amount": base, "currency": "EUR"}, expected_close_date=close)
    set_deal(svc, deal["id"], tenant, amount_in_base=base, forecast_category=category)
    return deal


def _snapshot_count(svc: ServiceHarness, tenant: str = "a") -> int:
    with context.tenant_context(svc.tenant(tenant)), svc.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(ForecastSnapshot)) or 0


def test_weekly_loop_and_accuracy(any_pipeline: ServiceHarness) -> None:
    svc = any_pipeline
    p = make_pipeline(svc, stages=STAGES)
    keep = _deal(svc, p, "keep", day(M, 10), "1000.00", "commit")
    slip = _deal(svc, p, "slip", day(M, 20), "400.00", "best_case")
    lose = _deal(svc, p, "lose", day(M, 5), "300.00", "commit")
    _deal(svc, p, "omitted", day(M, 6), "9000.00", "omitted")
    _deal(svc, p, "far", day(M + 12, 1), "5.00", "commit")  # beyond the horizon (this quarter and the next)
    loop = ForecastSnapshotter(svc.db, Outbox("pipeline", metadata()), now=lambda: MONDAY)

    # the tenant entered the schedule with its first deal; due now, snapshot taken once
    assert loop.run_once() == 1
    assert loop.run_once() == 0 and loop.run_once(MONDAY + dt.timedelta(days=6, hours=14)) == 0
    assert _snapshot_count(svc) == 1
    with svc.db.transaction() as session:
        assert session.get(ForecastSchedule, svc.tenant("a")).due_at.replace(tzinfo=dt.UTC) == next_due(MONDAY)
    [event] = [e for e in outbox_events(svc) if e["type"] == "crm.forecast_snapshot.created"]
    week = week_start(MONDAY).isoformat()
    assert (event["data"]["week_start"], event["data"]["deal_count"]) == (week, 4)
    assert (event["data"]["horizon_start"], event["data"]["horizon_end"]) == tuple(d.isoformat() for d in horizon(MONDAY))

    # a restarted worker (a new loop) in the same week takes none; a second one the next week
    again = ForecastSnapshotter(svc.db, Outbox("pipeline", metadata()))
    assert again.run_once(MONDAY + dt.timedelta(days=3)) == 0
    with context.tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        body, created = take_snapshot(session, Outbox("pipeline", metadata()), MONDAY + dt.timedelta(days=1))
    assert not created and body["week_start"] == week
    patch(svc, f"/v1/deals/{slip['id']}", expected_close_date=day(N, 15))
    patch(svc, f"/v1/deals/{lose['id']}", status="lost", lost_reason="Price")
    assert again.run_once(MONDAY + dt.timedelta(days=7)) == 1
    assert _snapshot_count(svc) == 2

    patch(svc, f"/v1/deals/{keep['id']}", status="won")
    set_deal(svc, keep["id"], won_at=dt.datetime.combine(M.start + dt.timedelta(days=8), dt.time(12), dt.UTC))
    body = get(svc, "/v1/forecast/accuracy", period="month", **{"from": M.label, "to": N.label})
    december, january = body["periods"]
    assert december["won"] == "1000.00"
    second_week = (week_start(MONDAY) + dt.timedelta(days=7)).isoformat()
    assert [(s["week_start"], s["commit"], s["best_case"], s["weighted"], s["deal_count"]) for s in december["snapshots"]] == [
        (week, "1300.00", "1700.00", "850.00", 3),  # 1700 × 50 %
        (second_week, "1000.00", "1000.00", "500.00", 1),
    ]
    slipped = {d["name"]: d for d in december["slipped"]}
    assert set(slipped) == {"slip", "lose"} and december["slipped_count"] == 2
    assert (slipped["slip"]["old_expected_close_date"], slipped["slip"]["new_expected_close_date"],
            slipped["slip"]["status"], slipped["slip"]["week_start"]) == (day(M, 20), day(N, 15), "open", week)
    assert (slipped["lose"]["status"], slipped["lose"]["amount_in_base"]) == ("lost", "300.00")
    assert [s["best_case"] for s in january["snapshots"]] == ["400.00"] and january["slipped"] == []
    q = Period.of("quarter", M.start)
    quarter = get(svc, "/v1/forecast/accuracy", period="quarter", **{"from": q.label, "to": q.label})["periods"][0]
    # lost left the quarter; the slipped one too unless it only moved to a month of the same quarter
    expected = {"lose"} if Period.of("quarter", N.start) == q else {"slip", "lose"}
    assert {d["name"] for d in quarter["slipped"]} == expected and parse_label("quarter", quarter["period"]) == q


def test_snapshot_endpoint(any_pipeline: ServiceHarness) -> None:
    svc = any_pipeline
    p = make_pipeline(svc, stages=STAGES)
    today = dt.datetime.now(dt.UTC).date()
    _deal(svc, p, "soon", (today + dt.timedelta(days=1)).isoformat(), "10.00", "commit")
    first = svc.client.post("/v1/forecast/snapshots", headers=svc.headers("a"))
    assert first.status_code == 200 and first.get_json()["created"] is True
    assert first.get_json()["week_start"] == week_start(dt.datetime.now(dt.UTC)).isoformat()
    assert first.get_json()["deal_count"] == 1
    second = svc.client.post("/v1/forecast/snapshots", headers=svc.headers("a")).get_json()
    assert second["created"] is False and second["id"] == first.get_json()["id"]
    read_only = svc.client.post("/v1/forecast/snapshots", headers=svc.headers("a", scopes=["pipeline:read"]))
    assert read_only.status_code == 403


def test_snapshot_isolation(pg_pipeline: ServiceHarness) -> None:
    """B's snapshots hold B's deals only; B's accuracy never shows A's snapshots or slipped deals;
    the rows are invisible to B even without the service's own tenant conditions (RLS)."""
    svc = pg_pipeline
    pa, pb = make_pipeline(svc, "a", stages=STAGES), make_pipeline(svc, "b", stages=STAGES)
    slip = _deal(svc, pa, "A slip", day(M, 20), "400.00", "commit", "a")
    _deal(svc, pb, "B deal", day(M, 21), "7.00", "commit", "b")
    loop = ForecastSnapshotter(svc.db, Outbox("pipeline", metadata()))
    assert loop.run_once(MONDAY) == 2  # one per tenant
    patch(svc, f"/v1/deals/{slip['id']}", expected_close_date=day(N, 1))
    december = {"from": M.label, "to": M.label}
    b = get(svc, "/v1/forecast/accuracy", "b", **december)["periods"][0]
    assert [(s["commit"], s["deal_count"]) for s in b["snapshots"]] == [("7.00", 1)] and b["slipped"] == []
    a = get(svc, "/v1/forecast/accuracy", "a", **december)["periods"][0]
    assert [s["commit"] for s in a["snapshots"]] == ["400.00"] and [d["name"] for d in a["slipped"]] == ["A slip"]
    with context.tenant_context(svc.tenant("b")), svc.db.transaction() as session:
        rows = session.execute(text("select tenant_id from forecast_snapshot_deals union all "
                                    "select tenant_id from forecast_snapshots")).scalars().all()
    assert rows and set(rows) == {svc.tenant("b")}
    # B taking its snapshot again this week cannot touch A's
    again = svc.client.post("/v1/forecast/snapshots", headers=svc.headers("b")).get_json()
    assert again["deal_count"] <= 1
    assert _snapshot_count(svc, "a") == 1
