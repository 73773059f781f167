"""Filters, sorts and `q=` search on contacts and companies, over built-in and custom fields; lead scoring."""

from __future__ import annotations

from typing import Any

from contacts.__main__ import job_runner
from crm_testing.apps import ServiceHarness


def post(svc: ServiceHarness, tenant: str, path: str, body: dict) -> dict:
    resp = svc.client.post(path, json=body, headers=svc.headers(tenant))
    assert resp.status_code in (200, 201), resp.get_json()
    return resp.get_json()


def ids(svc: ServiceHarness, tenant: str, query: str, path: str = "/v1/contacts") -> list[str]:
    resp = svc.client.get(f"{path}?{query}", headers=svc.headers(tenant))
    assert resp.status_code == 200, resp.get_json()
    return [r["id"] for r in resp.get_json()["data"]]


def seed(svc: ServiceHarness) -> dict[str, Any]:
    post(svc, "a", "/v1/properties/contacts", {"key": "plan", "label": "Plan", "type": "enum", "options": ["free", "pro", "team"]})
    post(svc, "a", "/v1/properties/contacts", {"key": "seats", "label": "Seats", "type": "number"})
    acme = post(svc, "a", "/v1/companies", {"name": "Acme Tools", "domain": "acme.com", "size": 120})
    made = {
        "ada": post(svc, "a", "/v1/contacts", {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@acme.com",
                                               "lifecycle_stage": "lead", "phone": "+44 20 7946 0958",
                                               "company_id": acme["id"], "tags": ["vip"],
                                               "properties": {"plan": "pro", "seats": 12}}),
        "bob": post(svc, "a", "/v1/contacts", {"first_name": "Bob", "last_name": "Byte", "email": "bob@globex.com",
                                               "lifecycle_stage": "lead", "properties": {"plan": "free", "seats": 1}}),
        "cy": post(svc, "a", "/v1/contacts", {"first_name": "Cy", "last_name": "Clock", "email": "cy@initech.com",
                                              "lifecycle_stage": "customer", "properties": {"plan": "team", "seats": 40}}),
        "dee": post(svc, "a", "/v1/contacts", {"first_name": "Dee", "email": "dee@acme.com", "lifecycle_stage": "lead"}),
    }
    made["acme"] = acme
    return made


def test_filter_on_builtin_and_custom_fields(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    m = seed(svc)
    # b has identical data shapes but none of a's rows may show up in a's answers, or the other way round
    theirs = post(svc, "b", "/v1/contacts", {"first_name": "Ada", "email": "ada@acme.com", "lifecycle_stage": "lead"})
    expr = "lifecycle_stage = 'lead' and (plan in ('pro', 'team') or seats >= 50)"
    assert ids(svc, "a", f"filter={expr}") == [m["ada"]["id"]]
    assert set(ids(svc, "a", "filter=plan != 'free'")) == {m["ada"]["id"], m["cy"]["id"], m["dee"]["id"]}
    assert ids(svc, "a", "filter=seats > 10&sort=-seats") == [m["cy"]["id"], m["ada"]["id"]]
    assert ids(svc, "a", "filter=plan is null") == [m["dee"]["id"]]
    assert ids(svc, "a", "filter=tags contains 'vip'") == [m["ada"]["id"]]
    assert ids(svc, "a", f"filter=company_id = '{m['acme']['id']}'") == [m["ada"]["id"]]
    assert ids(svc, "a", "filter=email = 'ADA@acme.com'") == [m["ada"]["id"]]
    assert ids(svc, "b", "filter=lifecycle_stage = 'lead' or email = 'bob@globex.com'") == [theirs["id"]]
    assert set(ids(svc, "a", "filter=email starts_with 'ada' or email starts_with 'dee'")) == {m["ada"]["id"], m["dee"]["id"]}
    companies = ids(svc, "a", "filter=size >= 100 and domain = 'acme.com'", "/v1/companies")
    assert companies == [m["acme"]["id"]]


def test_sort_by_custom_field_pages_stably(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    m = seed(svc)
    first = svc.client.get("/v1/contacts?sort=plan,last_name&limit=2", headers=svc.headers("a")).get_json()
    post(svc, "a", "/v1/contacts", {"email": "new@x.com", "properties": {"plan": "free"}})  # sorts first
    second = svc.client.get(f"/v1/contacts?sort=plan,last_name&limit=2&cursor={first['next_cursor']}",
                            headers=svc.headers("a")).get_json()
    order = [r["id"] for r in first["data"] + second["data"]]
    # free < pro < team, then the one without a plan last
    assert order == [m["bob"]["id"], m["ada"]["id"], m["cy"]["id"], m["dee"]["id"]]


def test_bad_filters_are_400_naming_the_problem(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    seed(svc)
    for query, needle in [("filter=plna = 'pro'", "plna"), ("filter=plan = ", "position"), ("filter=seats > 'many'", "seats"),
                          ("filter=lifecycle_stage = 'hot'", "lifecycle_stage"), ("sort=nope", "nope"),
                          ("filter=search_text contains 'x'", "search_text")]:
        resp = svc.client.get(f"/v1/contacts?{query}", headers=svc.headers("a"))
        assert resp.status_code == 400, query
        assert needle in str(resp.get_json()), (query, resp.get_json())
    # a's custom field does not exist for b
    assert svc.client.get("/v1/contacts?filter=plan = 'pro'", headers=svc.headers("b")).status_code == 400
    # archived fields can no longer be filtered on
    svc.client.delete("/v1/properties/contacts/seats", headers=svc.headers("a"))
    assert svc.client.get("/v1/contacts?filter=seats > 1", headers=svc.headers("a")).status_code == 400


def test_search_names_emails_phones_and_companies(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    m = seed(svc)
    post(svc, "b", "/v1/contacts", {"first_name": "Ada", "email": "ada@elsewhere.com"})
    assert ids(svc, "a", "q=lovelace") == [m["ada"]["id"]]
    assert ids(svc, "a", "q=Ada Love") == [m["ada"]["id"]]
    assert ids(svc, "a", "q=%2B44 20 7946 0958") == [m["ada"]["id"]]
    assert ids(svc, "a", "q=79460958") == [m["ada"]["id"]]
    assert set(ids(svc, "a", "q=acme")) == {m["ada"]["id"], m["dee"]["id"]}  # email domain and company name
    assert ids(svc, "a", "q=100%25") == []  # LIKE wildcards are escaped
    assert ids(svc, "b", "q=lovelace") == []
    assert ids(svc, "a", "q=tools", "/v1/companies") == [m["acme"]["id"]]


def test_lead_scoring_rules_and_background_rescore(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    m = seed(svc)
    runner = job_runner(svc.settings, svc.db)
    bad = svc.client.post("/v1/scoring-rules", json={"name": "x", "filter": "plna = 1", "points": 5}, headers=svc.headers("a"))
    assert bad.status_code == 422 and "filter" in bad.get_json()["errors"]
    post(svc, "a", "/v1/scoring-rules", {"name": "Paying", "filter": "plan in ('pro', 'team')", "points": 30})
    post(svc, "a", "/v1/scoring-rules", {"name": "Big", "filter": "seats >= 10", "points": 20})
    queued = svc.client.get("/v1/scoring-rules/rescore", headers=svc.headers("a")).get_json()
    assert queued["status"] == "queued"  # one rescoring for both changes
    while runner.run_once():
        pass
    done = svc.client.get("/v1/scoring-rules/rescore", headers=svc.headers("a")).get_json()
    assert done["status"] == "completed" and done["rows_total"] == 4 and done["rows_processed"] == 4
    scores = {k: svc.client.get(f"/v1/contacts/{m[k]['id']}", headers=svc.headers("a")).get_json()["lead_score"]
              for k in ("ada", "bob", "cy", "dee")}
    assert scores == {"ada": 50, "bob": 0, "cy": 50, "dee": 0}
    # a change to the contact rescores it at once, and filters see the score
    bob = svc.client.patch(f"/v1/contacts/{m['bob']['id']}", json={"properties": {"plan": "pro"}}, headers=svc.headers("a"))
    assert bob.get_json()["lead_score"] == 30
    assert set(ids(svc, "a", "filter=lead_score >= 50")) == {m["ada"]["id"], m["cy"]["id"]}
    created = post(svc, "a", "/v1/contacts", {"email": "big@x.com", "properties": {"seats": 99}})
    assert created["lead_score"] == 20
    # b's contacts are not scored by a's rules, and b sees none of a's rules or jobs
    other = post(svc, "b", "/v1/contacts", {"email": "big@x.com"})
    assert other["lead_score"] == 0
    assert svc.client.get("/v1/scoring-rules", headers=svc.headers("b")).get_json()["data"] == []
    assert svc.client.get("/v1/scoring-rules/rescore", headers=svc.headers("b")).status_code == 404
    assert svc.client.get(f"/v1/scoring-rules/rescore/{done['id']}", headers=svc.headers("b")).status_code == 404


def test_scoring_decay_by_days_since_last_contact(contacts_service: ServiceHarness) -> None:
    svc = contacts_service
    post(svc, "a", "/v1/scoring-rules", {"name": "Leads", "filter": "lifecycle_stage = 'lead'", "points": 40, "decay_days": 10})
    job_runner(svc.settings, svc.db).run_once()
    fresh = post(svc, "a", "/v1/contacts", {"email": "l@x.com", "lifecycle_stage": "lead"})
    assert fresh["lead_score"] == 40  # created just now: no decay yet
    call = svc.client.post(f"/v1/contacts/{fresh['id']}/activities", headers=svc.headers("a"), json={
        "type": "call", "direction": "outbound", "occurred_at": "2020-01-01T10:00:00Z"})
    assert call.status_code == 201, call.get_json()
    # last contacted years ago: the rule's points have faded to 0
    assert svc.client.get(f"/v1/contacts/{fresh['id']}", headers=svc.headers("a")).get_json()["lead_score"] == 0
