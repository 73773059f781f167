"""Test steps for calendar feeds: tasks written straight to the table (every column the feed reads),
contacts' activity events fed to the pipeline's activity consumer, the open feed URL fetched as the
gateway forwards it (public principal), and the answer parsed with icalendar."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import icalendar
from flask.testing import FlaskClient

from crm_core.context import public_principal, tenant_context
from crm_core.internal_token import HEADER
from crm_events.envelope import Event
from crm_testing.apps import ServiceHarness
from pipeline.activity_consumer import activity_handlers
from pipeline.models import Task


def user(svc: ServiceHarness, tenant: str, name: str = "user") -> uuid.UUID:
    return uuid.uuid5(svc.tenant(tenant), name)


def as_user(svc: ServiceHarness, tenant: str, name: str = "user") -> dict[str, str]:
    return svc.headers(tenant, user_id=user(svc, tenant, name))


def task(svc: ServiceHarness, tenant: str, assignee: uuid.UUID, title: str, **columns: Any) -> uuid.UUID:
    with tenant_context(svc.tenant(tenant)), svc.db.transaction() as session:
        row = Task(title=title, assignee_id=assignee, done=columns.pop("done", False), **columns)
        session.add(row)
        session.flush()
        return row.id


def activity(svc: ServiceHarness, tenant: str, data: dict[str, Any], event_type: str = "crm.activity.created",
             now: dt.datetime | None = None, changes: dict[str, Any] | None = None) -> None:
    """A crm.activity.* event of the contacts service, handled as the consumer runner would."""
    body = {"version": 1, **data, **({"changes": changes} if changes else {})}
    event = Event(type=event_type, source="contacts", tenant_id=str(svc.tenant(tenant)), subject=str(data["id"]), data=body)
    handlers = activity_handlers(now=lambda: now) if now else activity_handlers()
    with tenant_context(svc.tenant(tenant)), svc.db.transaction() as session:
        handlers[event_type](session, event)


def public_headers(svc: ServiceHarness) -> dict[str, str]:
    return {HEADER: svc.signer.mint(public_principal(), svc.settings.service), "X-Request-Id": "calendar-test"}


def path_of(url: str) -> str:
    return url[url.index("/calendar/"):]


def fetch(client: FlaskClient, svc: ServiceHarness, url: str, status: int = 200, **headers: str) -> Any:
    resp = client.get(path_of(url), headers={**public_headers(svc), **headers})
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:300])
    return resp


def events_of(body: bytes) -> dict[str, icalendar.Event]:
    """The feed's VEVENTs by SUMMARY (the calendar must parse, as a client would)."""
    cal = icalendar.Calendar.from_ical(body)
    assert str(cal["VERSION"]) == "2.0" and cal.get("PRODID")
    return {str(e["SUMMARY"]): e for e in cal.walk("VEVENT")}
