"""Inputs at the edges of what the columns and datetime hold: each is a 4xx problem naming the field
or parameter, never a 500. Amounts whose base-currency value would not fit amount_in_base (Numeric
18,2), line items too large, forecast periods past 9999, task times near year 1 / 9999, sub-daily
and instance-less recurrence, and the feed's RRULE UNTIL as RFC 5545 wants it."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from calendar_helpers import as_user, events_of, fetch, task, user
from dateutil.rrule import rrulestr
from pipeline_helpers import invalid_fields, make_deal, make_pipeline, make_task, patch, post

from crm_testing.apps import ServiceHarness
from pipeline.recurrence import next_occurrence

CONTACT = "01a2025e-d30d-7000-b597-2cc15812bf3f"


def _money(amount: str, currency: str) -> dict[str, str]:
    return {"amount": amount, "currency": currency}


def _line(quantity: str, price: str, currency: str = "EUR") -> dict[str, Any]:
    return {"name": "Seats", "quantity": quantity, "unit_price": _money(price, currency)}


def test_base_amounts_that_would_not_fit_are_422(pg_pipeline: ServiceHarness) -> None:
    # On PostgreSQL: there the column overflows (SQLite would store anything).
    svc = pg_pipeline
    p = make_pipeline(svc)["id"]
    usd = make_deal(svc, pipeline_id=p, amount=_money("1000000", "USD"))  # no rate yet: amount_in_base null
    assert usd["amount_in_base"] is None
    # The bulk re-conversion of the open USD deals would overflow: refused on the rate, nothing changed.
    assert invalid_fields(svc, "POST", "/v1/exchange-rates", {"currency": "USD", "rate": "1000000000000"}) == {"rate"}
    rate = post(svc, "/v1/exchange-rates", currency="USD", rate="100")
    assert invalid_fields(svc, "PATCH", f"/v1/exchange-rates/{rate['id']}", {"rate": "1000000000000"}) == {"rate"}
    assert svc.client.get(f"/v1/deals/{usd['id']}", headers=svc.headers("a")).get_json()["amount_in_base"] == "100000000.00"
    # A deal whose own conversion would not fit.
    assert "amount" in invalid_fields(svc, "PATCH", f"/v1/deals/{usd['id']}", {"amount": _money("900000000000000", "USD")})
    assert "amount" in invalid_fields(svc, "POST", "/v1/deals", {"name": "Huge", "pipeline_id": p,
                                                                  "amount": _money("1000000000000000", "USD")})
    patch(svc, f"/v1/deals/{usd['id']}", amount=_money("9999.99", "USD"))
    patch(svc, f"/v1/exchange-rates/{rate['id']}", rate="1000000000000")  # fine once no open deal is that large
    got = svc.client.get(f"/v1/deals/{usd['id']}", headers=svc.headers("a")).get_json()
    assert got["amount_in_base"] == "9999990000000000.00"  # the bulk re-conversion: the largest that fits
    # amount x rate = 1e15 x 1e12 would not even quantize without a wider decimal context.
    assert "amount" in invalid_fields(svc, "POST", "/v1/deals", {"name": "Huger", "pipeline_id": p,
                                                                  "amount": _money("1000000000000000", "USD")})
    assert make_deal(svc, pipeline_id=p, amount=_money("9999.99", "USD"))["amount_in_base"] == "9999990000000000.00"

    # Line items: a net amount, a deal's sum, or its base value too large -> 422 naming quantity.
    eur = make_deal(svc, pipeline_id=p)["id"]
    items = f"/v1/deals/{eur}/line-items"
    assert invalid_fields(svc, "POST", items, _line("1000000000000", "1000000000000000")) == {"quantity"}
    assert invalid_fields(svc, "POST", items, _line("1000000", "100000000000")) == {"quantity"}
    first = post(svc, items, **_line("6", "100000000000000"))
    assert invalid_fields(svc, "POST", items, _line("6", "100000000000000")) == {"quantity"}  # the sum: 1.2e15
    assert invalid_fields(svc, "PATCH", f"{items}/{first['id']}", {"quantity": "1000000"}) == {"quantity"}
    dollars = make_deal(svc, pipeline_id=p)["id"]
    assert invalid_fields(svc, "POST", f"/v1/deals/{dollars}/line-items", _line("1", "100000", "USD")) == {"quantity"}

    # A new base currency re-quotes the rates from its own: one that would not fit the rate column
    # (1 USD = 1e12 EUR: 1 EUR = 1e-12 USD) refuses the change ...
    assert invalid_fields(svc, "PATCH", "/v1/settings/pipeline", {"base_currency": "USD"}) == {"base_currency"}
    patch(svc, f"/v1/exchange-rates/{rate['id']}", rate="1")
    patch(svc, "/v1/settings/pipeline", base_currency="USD")
    [eur_rate] = svc.client.get("/v1/exchange-rates", headers=svc.headers("a")).get_json()["data"]
    patch(svc, f"/v1/exchange-rates/{eur_rate['id']}", rate="0.0000000001")  # 1 EUR = 1e-10 USD
    # ... and so does every open deal's re-conversion that would not fit: 1e14 USD = 1e24 EUR.
    make_deal(svc, pipeline_id=p, amount=_money("100000000000000", "USD"))
    assert invalid_fields(svc, "PATCH", "/v1/settings/pipeline", {"base_currency": "EUR"}) == {"base_currency"}


def test_forecast_periods_past_9999_are_400(pipeline_service: ServiceHarness) -> None:
    c, h = pipeline_service.client, pipeline_service.headers("a")
    for query, name in (("/v1/forecast?from=9999-12", "from"), ("/v1/forecast?period=quarter&from=9999-Q4", "from"),
                        ("/v1/forecast/accuracy?period=quarter&from=9999-Q3", "from"),
                        ("/v1/forecast?from=9999-08", "from"), ("/v1/forecast?from=9999-06&to=9999-12", "to")):
        resp = c.get(query, headers=h)
        assert resp.status_code == 400 and name in resp.get_json()["errors"], (query, resp.get_json())
    assert c.get("/v1/forecast?from=9999-06&to=9999-11", headers=h).status_code == 200


def test_task_times_near_year_1_and_9999_are_4xx(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    c, h = svc.client, svc.headers("a")
    for name, value in (("due_after", "0001-01-01T00:00:00+01:00"), ("due_before", "9999-12-31T23:59:59-01:00")):
        resp = c.get("/v1/tasks", query_string={name: value}, headers=h)
        assert resp.status_code == 400 and name in resp.get_json()["errors"], name
    item = make_task(svc, contact_id=CONTACT, due_at="2027-01-04T09:00:00Z", reminders=[{"minutes_before": 30}])
    path = f"/v1/tasks/{item['id']}"
    for body, field in (({"due_at": "0001-01-01T00:10:00Z"}, "due_at"), ({"due_at": "9999-12-31T23:00:00Z"}, "due_at"),
                        ({"due_at": "1899-12-31T23:00:00Z"}, "due_at"), ({"due_at": None, "due_date": "0001-01-01"}, "due_date"),
                        ({"due_at": None, "due_date": "9999-12-31"}, "due_date")):
        assert invalid_fields(svc, "PATCH", path, body) == {field}, body
    assert invalid_fields(svc, "POST", "/v1/tasks", {"title": "T", "contact_id": CONTACT, "due_at": "0001-01-01T00:10:00Z",
                                                     "reminders": [{"minutes_before": 30}]}) == {"due_at"}
    assert invalid_fields(svc, "POST", f"{path}/snooze", {"until": "9999-12-31T23:59:00Z"}) == {"until"}
    assert patch(svc, path, due_at="9998-12-31T00:00:00Z")["due_at"] == "9998-12-31T00:00:00Z"


def test_recurrence_is_daily_at_most_and_bounded(pipeline_service: ServiceHarness) -> None:
    svc = pipeline_service
    for freq in ("SECONDLY", "MINUTELY", "HOURLY"):
        body = {"title": "T", "contact_id": CONTACT, "due_at": "2027-01-04T09:00:00Z",
                "recurrence": f"FREQ={freq};BYMONTH=2;BYMONTHDAY=30"}
        assert invalid_fields(svc, "POST", "/v1/tasks", body) == {"recurrence"}, freq
    never = make_task(svc, contact_id=CONTACT, due_at="2027-01-04T09:00:00Z", recurrence="FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30")
    started = time.perf_counter()
    resp = svc.client.post(f"/v1/tasks/{never['id']}/complete", headers=svc.headers("a"))
    assert resp.status_code == 200 and resp.get_json()["next_occurrence"] is None  # no instance: the series ends
    assert time.perf_counter() - started < 2  # dateutil alone ran to year 9999: 3-7 s


def test_next_occurrence_keeps_count_until_and_ends_after_the_gap() -> None:
    monday = dt.datetime(2027, 1, 4, 8, tzinfo=dt.UTC)  # 09:00 in Berlin
    assert next_occurrence("FREQ=WEEKLY;BYDAY=MO;COUNT=3", monday, "Europe/Berlin") == (
        dt.datetime(2027, 1, 11, 8, tzinfo=dt.UTC), "FREQ=WEEKLY;BYDAY=MO;COUNT=2")
    assert next_occurrence("FREQ=DAILY;COUNT=1", monday, "Europe/Berlin") is None
    assert next_occurrence("FREQ=DAILY;UNTIL=20270105", monday, "Europe/Berlin") == (
        dt.datetime(2027, 1, 5, 8, tzinfo=dt.UTC), "FREQ=DAILY;UNTIL=20270105")
    assert next_occurrence("FREQ=DAILY;UNTIL=20270104", monday, "Europe/Berlin") is None
    # Across summer time the wall time holds (the search runs on shifted wall times).
    assert next_occurrence("FREQ=MONTHLY;BYMONTHDAY=4", dt.datetime(2027, 3, 4, 8, tzinfo=dt.UTC), "Europe/Berlin")[0] == (
        dt.datetime(2027, 4, 4, 7, tzinfo=dt.UTC))
    leap = next_occurrence("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", dt.datetime(2028, 2, 29, 9, tzinfo=dt.UTC), None)
    assert leap is not None and leap[0] == dt.datetime(2032, 2, 29, 9, tzinfo=dt.UTC)
    # Every 28 years at best: past the 10-year gap, so the series ends.
    assert next_occurrence("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO", dt.datetime(2027, 1, 4, 9, tzinfo=dt.UTC), None) is None
    assert next_occurrence("FREQ=DAILY", dt.datetime(9998, 12, 31, 9, tzinfo=dt.UTC), None) is None  # past the last year


def test_feed_writes_until_in_utc_or_as_a_date(pipeline_service: ServiceHarness) -> None:
    svc, c = pipeline_service, pipeline_service.client
    me = user(svc, "a")
    task(svc, "a", me, "Standup", due_at=dt.datetime(2027, 3, 1, 8, tzinfo=dt.UTC), time_zone="Europe/Berlin",
         recurrence="FREQ=DAILY;UNTIL=20270303")
    task(svc, "a", me, "Review", due_at=dt.datetime(2027, 3, 1, 8, tzinfo=dt.UTC), time_zone="Europe/Berlin",
         recurrence="FREQ=DAILY;UNTIL=20270302T090000")
    task(svc, "a", me, "Day off", due_date=dt.date(2027, 3, 1), due_at=dt.datetime(2027, 2, 28, 23, tzinfo=dt.UTC),
         time_zone="Europe/Berlin", recurrence="FREQ=DAILY;UNTIL=20270302T230000Z")
    url = c.post("/v1/calendar/feed", headers=as_user(svc, "a")).get_json()["url"]
    events = events_of(fetch(c, svc, url).data)

    standup = events["Standup"]
    [until] = standup["RRULE"]["UNTIL"]
    assert until == dt.datetime(2027, 3, 3, 22, 59, 59, tzinfo=dt.UTC)  # the whole of 3 March in Berlin, in UTC
    start = standup.decoded("DTSTART")
    assert str(start.tzinfo) == "Europe/Berlin"
    days = list(rrulestr(standup["RRULE"].to_ical().decode(), dtstart=start))  # dateutil refuses a local UNTIL here
    assert [d.day for d in days] == [1, 2, 3]
    [review_until] = events["Review"]["RRULE"]["UNTIL"]
    assert review_until == dt.datetime(2027, 3, 2, 8, tzinfo=dt.UTC)  # 09:00 Berlin
    day_off = events["Day off"]
    [date_until] = day_off["RRULE"]["UNTIL"]
    assert date_until == dt.date(2027, 3, 3)  # 23:00Z is 3 March in Berlin: a DATE beside a DATE start
    assert [d.day for d in rrulestr(day_off["RRULE"].to_ical().decode(), dtstart=day_off.decoded("DTSTART"))] == [1, 2, 3]
