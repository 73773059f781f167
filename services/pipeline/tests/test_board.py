"""GET /v1/pipelines/{id}/board and .../board/stages/{stage_id}/cards: totals, cards, paging, filters.

Deals are made through the API; amount_in_base, rots_at, position and archived stages are set by a
direct SQL update (sales_helpers.set_deal), since the API cannot set them yet.
"""

from __future__ import annotations

import datetime as dt
import uuid

from pipeline_helpers import make_deal, make_pipeline, stage
from sales_helpers import archive_stage, get, set_deal
from sqlalchemy import text

from crm_core import context
from crm_testing.apps import ServiceHarness

STAGES = [
    {"name": "Lead", "probability": 10},
    {"name": "Demo", "probability": 40},
    {"name": "Old", "probability": 20},
    {"name": "Parked", "probability": 5},
    {"name": "Won", "probability": 100, "kind": "won"},
    {"name": "Lost", "probability": 0, "kind": "lost"},
]


def _money(amount: str, currency: str) -> dict[str, str]:
    return {"amount": amount, "currency": currency}


def _seed(svc: ServiceHarness) -> tuple[dict, dict[str, dict]]:
    p = make_pipeline(svc, stages=STAGES)
    lead, demo, old = (stage(p, n)["id"] for n in ("Lead", "Demo", "Old"))
    deals = {
        "eur": make_deal(svc, name="EUR", pipeline_id=p["id"], stage_id=lead, amount=_money("100.00", "EUR")),
        "eur2": make_deal(svc, name="EUR 2", pipeline_id=p["id"], stage_id=lead, amount=_money("50.55", "EUR")),
        "usd": make_deal(svc, name="USD", pipeline_id=p["id"], stage_id=lead, amount=_money("200.00", "USD")),
        "none": make_deal(svc, name="No amount", pipeline_id=p["id"], stage_id=lead),
        "demo": make_deal(svc, name="Demo", pipeline_id=p["id"], stage_id=demo, amount=_money("1000.00", "EUR"),
                          expected_close_date="2027-01-15"),
        "old": make_deal(svc, name="Old", pipeline_id=p["id"], stage_id=old, amount=_money("10.00", "EUR")),
    }
    for key, base, position in (("eur", "110.00", 4.0), ("eur2", "55.61", 1.0), ("usd", "180.00", 3.0),
                                ("none", None, 2.0), ("demo", "1100.00", 1.0), ("old", "11.00", 1.0)):
        set_deal(svc, deals[key]["id"], amount_in_base=base, position=position)
    archive_stage(svc, old)
    archive_stage(svc, stage(p, "Parked")["id"])  # archived and empty: left off
    return p, deals


def test_board_totals_cards_and_paging(any_pipeline: ServiceHarness) -> None:
    svc = any_pipeline
    p, deals = _seed(svc)
    now = dt.datetime.now(dt.UTC)
    set_deal(svc, deals["eur"]["id"], rots_at=now - dt.timedelta(hours=1), next_activity_at=now + dt.timedelta(days=1))
    set_deal(svc, deals["usd"]["id"], rots_at=now + dt.timedelta(days=3))

    body = get(svc, f"/v1/pipelines/{p['id']}/board", limit=2)
    assert (body["pipeline_id"], body["name"], body["count"]) == (p["id"], "Sales", 6)
    assert [s["name"] for s in body["stages"]] == ["Lead", "Demo", "Old", "Won", "Lost"]
    assert body["base"] == {"total": "1456.61", "weighted": "476.76"}  # 345.61×10% + 1100×40% + 11×20%
    lead, demo, old, won = body["stages"][:4]
    assert isinstance(demo["cards"][0]["number"], int)
    assert (lead["count"], lead["kind"], lead["archived"], lead["probability"]) == (4, "open", False, 10)
    assert lead["totals"] == [
        {"currency": "EUR", "count": 2, "total": "150.55", "weighted": "15.06"},  # 15.055 rounds half even
        {"currency": "USD", "count": 1, "total": "200.00", "weighted": "20.00"},
    ]
    assert lead["base"] == {"total": "345.61", "weighted": "34.56"}
    assert [c["name"] for c in lead["cards"]] == ["EUR 2", "No amount"]  # by position
    assert lead["next_cursor"]
    assert demo["cards"] == [{
        "id": deals["demo"]["id"], "stage_id": demo["id"], "version": deals["demo"]["version"],
        "number": demo["cards"][0]["number"],
        "name": "Demo", "amount": {"amount": "1000.00", "currency": "EUR"}, "amount_in_base": "1100.00",
        "owner_id": None, "expected_close_date": "2027-01-15", "probability": 40, "rotten": False,
        "next_activity_at": None, "position": 1.0}]
    assert demo["next_cursor"] is None and demo["totals"][0]["weighted"] == "400.00"
    assert (old["archived"], old["count"]) == (True, 1)  # archived, but still holds a deal
    assert (won["count"], won["totals"], won["base"], won["cards"]) == (0, [], {"total": "0.00", "weighted": "0.00"}, [])

    # the rest of Lead, page by page, through the stage's cursor
    path = f"/v1/pipelines/{p['id']}/board/stages/{lead['id']}/cards"
    page = get(svc, path, limit=1, cursor=lead["next_cursor"])
    assert [c["name"] for c in page["data"]] == ["USD"] and page["stage_id"] == lead["id"]
    assert page["data"][0]["rotten"] is False
    last = get(svc, path, limit=1, cursor=page["next_cursor"])
    assert [c["name"] for c in last["data"]] == ["EUR"] and last["data"][0]["rotten"] is True
    assert last["data"][0]["next_activity_at"] is not None
    assert last["next_cursor"] is None
    assert [c["name"] for c in get(svc, path)["data"]] == ["EUR 2", "No amount", "USD", "EUR"]

    # a filter narrows counts, totals and cards alike; the archived stage left without matches goes
    filtered = get(svc, f"/v1/pipelines/{p['id']}/board", filter="amount_in_base >= 150 and status = 'open'")
    assert [(s["name"], s["count"]) for s in filtered["stages"]] == [("Lead", 1), ("Demo", 1), ("Won", 0), ("Lost", 0)]
    assert [c["name"] for c in filtered["stages"][0]["cards"]] == ["USD"]
    assert get(svc, path, filter="currency = 'EUR'")["data"][0]["name"] == "EUR 2"


def test_board_owner_and_text_search(any_pipeline: ServiceHarness) -> None:
    """owner_id= and q= narrow counts, totals and cards as filter= does, and-ed with it."""
    svc = any_pipeline
    p, deals = _seed(svc)
    owner = "0190d5c0-0000-7000-8000-00000000a11c"
    set_deal(svc, deals["eur"]["id"], owner_id=uuid.UUID(owner))
    set_deal(svc, deals["demo"]["id"], owner_id=uuid.UUID(owner))
    board_path = f"/v1/pipelines/{p['id']}/board"
    mine = get(svc, board_path, owner_id=owner)
    assert [(s["name"], s["count"], [c["name"] for c in s["cards"]]) for s in mine["stages"][:2]] == [
        ("Lead", 1, ["EUR"]), ("Demo", 1, ["Demo"])]
    assert mine["count"] == 2 and mine["stages"][0]["cards"][0]["owner_id"] == owner
    words = get(svc, board_path, q="eur 2")
    assert words["count"] == 1 and [c["name"] for c in words["stages"][0]["cards"]] == ["EUR 2"]
    both = get(svc, board_path, q="eur", owner_id=owner, filter="amount >= 50")
    assert both["count"] == 1 and [c["name"] for c in both["stages"][0]["cards"]] == ["EUR"]
    lead = stage(p, "Lead")["id"]
    cards = get(svc, f"{board_path}/stages/{lead}/cards", q="EUR")
    assert [c["name"] for c in cards["data"]] == ["EUR 2", "EUR"]
    assert get(svc, f"{board_path}/stages/{lead}/cards", owner_id=owner)["data"][0]["name"] == "EUR"
    problem = get(svc, board_path, status=400, owner_id="not-a-uuid")
    assert "owner_id" in problem["errors"]


def test_board_bad_input(any_pipeline: ServiceHarness) -> None:
    svc = any_pipeline
    p, _ = _seed(svc)
    lead = stage(p, "Lead")["id"]
    for params, field in (({"filter": "nonsense ="}, "filter"), ({"filter": "colour = 'red'"}, "filter"),
                          ({"filter": "amount >= 'x'"}, "filter"), ({"limit": "0"}, "limit"), ({"limit": "x"}, "limit")):
        problem = get(svc, f"/v1/pipelines/{p['id']}/board", status=400, **params)
        assert field in problem["errors"], params
    problem = get(svc, f"/v1/pipelines/{p['id']}/board/stages/{lead}/cards", status=400, cursor="garbage")
    assert "cursor" in problem["errors"]
    get(svc, "/v1/pipelines/not-a-uuid/board", status=404)
    get(svc, f"/v1/pipelines/{lead}/board", status=404)  # a stage id is no pipeline id
    other = make_pipeline(svc, name="Other")
    get(svc, f"/v1/pipelines/{other['id']}/board/stages/{lead}/cards", status=404)  # a stage of another pipeline


def test_board_isolation(pg_pipeline: ServiceHarness) -> None:
    """B can neither read A's board or stage cards nor learn anything of A's deals through its own."""
    svc = pg_pipeline
    p, deals = _seed(svc)
    lead = stage(p, "Lead")["id"]
    get(svc, f"/v1/pipelines/{p['id']}/board", tenant="b", status=404)
    get(svc, f"/v1/pipelines/{p['id']}/board/stages/{lead}/cards", tenant="b", status=404)
    pb = make_pipeline(svc, "b", name="B pipeline")
    make_deal(svc, "b", name="B deal", pipeline_id=pb["id"], amount=_money("5.00", "EUR"))
    get(svc, f"/v1/pipelines/{pb['id']}/board/stages/{lead}/cards", tenant="b", status=404)
    for flt in (None, f"pipeline_id = '{p['id']}'", f"stage_id = '{lead}'", f"id = '{deals['eur']['id']}'"):
        body = get(svc, f"/v1/pipelines/{pb['id']}/board", tenant="b", **({"filter": flt} if flt else {}))
        names = [c["name"] for s in body["stages"] for c in s["cards"]]
        assert set(names) <= {"B deal"} and body["count"] == len(names), flt
    for search in ({"q": "EUR"}, {"q": "deal"}):  # A's names are not found through B's board
        body = get(svc, f"/v1/pipelines/{pb['id']}/board", tenant="b", **search)
        names = [c["name"] for s in body["stages"] for c in s["cards"]]
        assert set(names) <= {"B deal"} and body["count"] == len(names), flt
    # and A's board is A's alone
    assert get(svc, f"/v1/pipelines/{p['id']}/board")["count"] == 6
    # the trigger-kept totals are under RLS: B sees its own rows only, even without a tenant condition
    with context.tenant_context(svc.tenant("b")), svc.db.transaction() as session:
        rows = session.execute(text("select tenant_id from deal_board_totals union all "
                                    "select tenant_id from deal_forecast_totals")).scalars().all()
    assert rows and set(rows) == {svc.tenant("b")}


def test_board_totals_follow_every_write(any_pipeline: ServiceHarness) -> None:
    """The unfiltered board (on PostgreSQL: the trigger-kept deal_board_totals) always equals the
    board aggregated from deals (a filter every deal matches), through creates, moves, amount and
    currency changes, wins and deletes."""
    svc = any_pipeline
    p, deals = _seed(svc)
    path = f"/v1/pipelines/{p['id']}/board"

    def same() -> dict:
        plain, live = get(svc, path), get(svc, path, filter="id is not null")
        assert plain == live
        return plain

    assert same()["count"] == 6
    demo, lead = stage(p, "Demo")["id"], stage(p, "Lead")["id"]
    svc.client.patch(f"/v1/deals/{deals['eur']['id']}", json={"stage_id": demo}, headers=svc.headers("a"))
    svc.client.patch(f"/v1/deals/{deals['usd']['id']}", json={"amount": {"amount": "999.99", "currency": "GBP"}},
                     headers=svc.headers("a"))
    svc.client.patch(f"/v1/deals/{deals['none']['id']}", json={"amount": {"amount": "1.00", "currency": "EUR"}},
                     headers=svc.headers("a"))
    svc.client.patch(f"/v1/deals/{deals['demo']['id']}", json={"status": "won"}, headers=svc.headers("a"))
    set_deal(svc, deals["eur2"]["id"], amount_in_base="60.00")
    assert svc.client.delete(f"/v1/deals/{deals['old']['id']}", headers=svc.headers("a")).status_code == 204
    make_deal(svc, name="New", pipeline_id=p["id"], stage_id=lead, amount=_money("3.00", "EUR"))
    body = same()
    assert [s["name"] for s in body["stages"]] == ["Lead", "Demo", "Won", "Lost"]  # Old: archived, now empty
    by_name = {s["name"]: s for s in body["stages"]}
    assert (by_name["Lead"]["count"], by_name["Demo"]["count"], by_name["Won"]["count"]) == (4, 1, 1)
    assert {t["currency"] for t in by_name["Lead"]["totals"]} == {"EUR", "GBP"}
