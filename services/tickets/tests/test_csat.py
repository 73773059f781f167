"""CSAT: resolving a ticket mails its requester a single-use, expiring survey link; the answer is
stored with the agent, team and SLA outcome at resolve; responses list with filters and cursors;
the summary's arithmetic; tokens are useless when forged, reused, expired or at another tenant."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from portal_helpers import last_link, mailbox, mails_to, outbox, public, staff_patch, staff_ticket
from routing_helpers import team as make_team
from sla_helpers import Clock, desk_of, policy, z
from sqlalchemy import select, update

from crm_core.context import tenant_context
from crm_core.ids import secret_hash
from crm_testing.apps import ServiceHarness
from tickets.models.csat import CsatSurvey
from tickets.service import sla, sla_config


def resolve(svc: ServiceHarness, tenant: str, email: str, **body: object) -> tuple[dict, str]:
    """A ticket resolved by staff; its survey token from the mail."""
    ticket = staff_ticket(svc, tenant, email, **body)
    staff_patch(svc, tenant, ticket, status="resolved")
    return ticket, last_link(svc, email, "csat")


def answer(svc: ServiceHarness, box: str, token: str, rating: object, comment: str | None = None, status: int = 201):
    resp = svc.client.post(f"/portal/{box}/csat/{token}", json={"rating": rating, "comment": comment},
                           headers=public(svc))
    assert resp.status_code == status, resp.get_json()
    return resp.get_json()


def test_resolve_mails_a_survey_and_the_answer_is_stored_once(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    box = mailbox(svc, "a")
    agent, team = uuid.uuid4(), make_team(svc, "a", assignment_mode="manual")["id"]
    ticket, token = resolve(svc, "a", "ann@example.com", subject="Printer", assignee_id=str(agent), team_id=str(team))
    [mail] = mails_to(svc, "ann@example.com")
    assert mail["from"] == {"support": True} and f"/portal/{box}/csat/" in mail["text"]
    assert mail["refers_to"] == {"type": "ticket", "id": ticket["id"]}
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        survey = session.scalars(select(CsatSurvey)).one()
        assert survey.token_hash == secret_hash(token) and survey.agent_id == agent and survey.sla_met is True
    form = svc.client.get(f"/portal/{box}/csat/{token}", headers=public(svc, Accept="text/html"))
    assert form.status_code == 200 and 'name="rating"' in form.get_data(as_text=True)
    info = svc.client.get(f"/portal/{box}/csat/{token}", headers=public(svc)).get_json()
    assert info["ticket_number"] == ticket["number"] and info["subject"] == "Printer"
    assert answer(svc, box, token, 5, " Quick and kind ")["rating"] == 5
    again = answer(svc, box, token, 1, status=409)
    assert "already answered" in again["detail"]
    assert svc.client.get(f"/portal/{box}/csat/{token}", headers=public(svc)).status_code == 409
    listed = svc.client.get("/v1/csat/responses", headers=svc.headers("a")).get_json()["data"]
    assert [(r["ticket_id"], r["rating"], r["comment"], r["agent_id"], r["team_id"], r["sla_met"]) for r in listed] == [
        (ticket["id"], 5, "Quick and kind", str(agent), str(team), True)]
    [event] = outbox(svc, "crm.ticket.csat_received")
    assert event["data"]["rating"] == 5 and event["subject"] == ticket["id"]


def test_agent_and_sla_are_taken_at_resolve(tickets_service: ServiceHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = tickets_service
    box = mailbox(svc, "a")
    agent = uuid.uuid4()
    clock = Clock(z("2027-03-01 08:00"))
    monkeypatch.setattr(sla, "now", clock)
    policy(svc, None, first_response_minutes=1)
    ticket = staff_ticket(svc, "a", "ann@example.com", assignee_id=str(agent))
    clock.set("2027-03-01 08:05")  # the first response was due at 08:01: breached when the timer fires
    runtime = svc.app.extensions["crm_runtime"]
    scheduler, _feeds = sla_config.schedulers(runtime.settings, svc.db, desk_of(svc), clock)
    assert scheduler.drain() >= 1
    staff_patch(svc, "a", ticket, status="resolved")
    token = last_link(svc, "ann@example.com", "csat")
    staff_patch(svc, "a", ticket, assignee_id=str(uuid.uuid4()))  # reassigned after the resolve
    answer(svc, box, token, 2)
    [row] = svc.client.get("/v1/csat/responses", headers=svc.headers("a")).get_json()["data"]
    assert row["agent_id"] == str(agent) and row["sla_met"] is False


def test_no_survey_without_requester_or_on_other_changes(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    mailbox(svc, "a")
    nobody = staff_ticket(svc, "a", None)
    staff_patch(svc, "a", nobody, status="resolved")
    ticket = staff_ticket(svc, "a", "ann@example.com")
    staff_patch(svc, "a", ticket, status="pending")
    staff_patch(svc, "a", ticket, priority="high")
    assert not mails_to(svc, "ann@example.com")
    staff_patch(svc, "a", ticket, status="resolved")
    staff_patch(svc, "a", ticket, status="closed")  # resolved -> closed: no second survey
    assert len(mails_to(svc, "ann@example.com")) == 1
    staff_patch(svc, "a", ticket, status="open")
    staff_patch(svc, "a", ticket, status="resolved")  # a new resolve: a new survey
    assert len(mails_to(svc, "ann@example.com")) == 2


def test_forged_expired_and_invalid(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    box = mailbox(svc, "a")
    _, token = resolve(svc, "a", "ann@example.com")
    assert answer(svc, box, token[:-4] + "abcd", 5, status=404)["status"] == 404
    assert answer(svc, box, "x" * 500, 5, status=404)["status"] == 404
    assert answer(svc, box, token[:-4] + "abcd", "bogus", status=404)["status"] == 404  # token before body
    for bad in (0, 6, "five", 4.5, None, True):
        errors = answer(svc, box, token, bad, status=422)["errors"]
        assert "rating" in errors, bad
    assert "comment" in answer(svc, box, token, 3, "x" * 5001, status=422)["errors"]
    with tenant_context(svc.tenant("a")), svc.db.transaction() as session:
        session.execute(update(CsatSurvey).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    assert "expired" in answer(svc, box, token, 5, status=410)["detail"]
    page = svc.client.get(f"/portal/{box}/csat/{token}", headers=public(svc, Accept="text/html"))
    assert page.status_code == 410 and "expired" in page.get_data(as_text=True)


def test_form_post_from_the_page(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    box = mailbox(svc, "a")
    _, token = resolve(svc, "a", "ann@example.com")
    resp = svc.client.post(f"/portal/{box}/csat/{token}", data={"rating": "4", "comment": ""},
                           headers=public(svc, Accept="text/html"))
    assert resp.status_code == 201 and "Thank you" in resp.get_data(as_text=True)
    [row] = svc.client.get("/v1/csat/responses", headers=svc.headers("a")).get_json()["data"]
    assert row["rating"] == 4 and row["comment"] is None


def test_tokens_are_tenant_scoped(tickets_service: ServiceHarness) -> None:
    """A survey token of tenant A is unknown at tenant B's mailbox; B's reports never show A's."""
    svc = tickets_service
    box_a, box_b = mailbox(svc, "a"), mailbox(svc, "b")
    _, token = resolve(svc, "a", "ann@example.com")
    assert answer(svc, box_b, token, 1, status=404)["status"] == 404
    assert svc.client.get(f"/portal/{box_b}/csat/{token}", headers=public(svc)).status_code == 404
    assert svc.client.get(f"/portal/nope/csat/{token}", headers=public(svc)).status_code == 404
    answer(svc, box_a, token, 5)
    assert svc.client.get("/v1/csat/responses", headers=svc.headers("b")).get_json()["data"] == []
    assert svc.client.get("/v1/csat/summary", headers=svc.headers("b")).get_json()["total"]["count"] == 0
    assert svc.client.get("/v1/csat/summary?group_by=agent",
                          headers=svc.headers("b")).get_json()["groups"] == []
    assert svc.client.get("/v1/csat/responses", headers=svc.headers("a", scopes=())).status_code == 403


def test_responses_filters_pagination_and_summary_math(tickets_service: ServiceHarness) -> None:
    svc = tickets_service
    box = mailbox(svc, "a")
    alice, bob, team = uuid.uuid4(), uuid.uuid4(), make_team(svc, "a", assignment_mode="manual")["id"]
    # alice: 5, 4, 1 -> avg 3.33, share 2/3; bob: 3 -> avg 3, share 0; nobody: 5 -> avg 5, share 1
    plan = [(alice, 5), (alice, 4), (alice, 1), (bob, 3), (None, 5)]
    for i, (agent, rating) in enumerate(plan):
        email = f"c{i}@example.com"
        body = {"assignee_id": str(agent)} if agent else {}
        _, token = resolve(svc, "a", email, team_id=str(team), **body)
        answer(svc, box, token, rating)
    h = svc.headers("a")
    total = svc.client.get("/v1/csat/summary", headers=h).get_json()
    assert total["total"] == {"count": 5, "average": 3.6, "satisfied_share": 0.6} and total["groups"] == []
    by_agent = svc.client.get("/v1/csat/summary?group_by=agent", headers=h).get_json()["groups"]
    assert {g["agent_id"]: (g["count"], g["average"], g["satisfied_share"]) for g in by_agent} == {
        str(alice): (3, 3.33, 0.6667), str(bob): (1, 3.0, 0.0), None: (1, 5.0, 1.0)}
    by_team = svc.client.get("/v1/csat/summary?group_by=team", headers=h).get_json()["groups"]
    assert by_team == [{"team_id": str(team), "count": 5, "average": 3.6, "satisfied_share": 0.6}]
    assert svc.client.get("/v1/csat/summary?group_by=planet", headers=h).status_code == 422

    def listed(query: str) -> list[int]:
        resp = svc.client.get(f"/v1/csat/responses?{query}", headers=h)
        assert resp.status_code == 200, resp.get_json()
        return [r["rating"] for r in resp.get_json()["data"]]

    assert listed("") == [5, 3, 1, 4, 5]  # newest first
    assert listed(f"agent_id={alice}") == [1, 4, 5]
    assert listed("rating=1,5") == [5, 1, 5]
    assert listed(f"team_id={team}&rating=3") == [3]
    assert listed("from=2000-01-01&to=2999-01-01") == [5, 3, 1, 4, 5]
    assert listed("to=2000-01-01") == []
    assert listed("sort=rating") == [1, 3, 4, 5, 5]
    for bad in ("rating=9", "agent_id=nope", "from=yesterday", "from=2026-02-01&to=2026-01-01", "sort=planet"):
        resp = svc.client.get(f"/v1/csat/responses?{bad}", headers=h)
        assert resp.status_code in (400, 422), (bad, resp.status_code)
        assert resp.get_json()["errors"], bad
    first = svc.client.get("/v1/csat/responses?limit=2", headers=h).get_json()
    second = svc.client.get(f"/v1/csat/responses?limit=2&cursor={first['next_cursor']}", headers=h).get_json()
    third = svc.client.get(f"/v1/csat/responses?limit=2&cursor={second['next_cursor']}", headers=h).get_json()
    ids = [r["id"] for page in (first, second, third) for r in page["data"]]
    assert len(ids) == len(set(ids)) == 5 and third["next_cursor"] is None
    windowed = svc.client.get("/v1/csat/summary?group_by=agent&to=2000-01-01", headers=h).get_json()
    assert windowed["total"]["count"] == 0 and windowed["total"]["average"] is None and windowed["groups"] == []
