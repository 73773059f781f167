"""Customer satisfaction: a survey mailed on resolve, answered once through its link.

The survey's token is the only credential of /portal/{mailbox}/csat/{token}: 256 random bits,
only its hash stored (crm_core.ids.secret_hash), looked up within the tenant of the mailbox in the
path (so a token of tenant A is unknown at tenant B's mailbox), single use, expiring. What the
answer is stored with (the agent and team who resolved the ticket, whether its SLA was met) is
taken when the ticket is resolved, not when the customer answers.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from crm_core import context
from crm_core.errors import Conflict, Gone, NotFound, validation_error
from crm_core.ids import secret_hash
from crm_core.settings import Settings
from crm_db.base import as_utc, utc_iso, utcnow
from crm_db.database import Database
from crm_mail.requests import request_mail
from crm_runtime.cli import BackgroundLoop, ConsumerSpec
from tickets.models import Ticket
from tickets.models.csat import CsatResponse, CsatSurvey
from tickets.service.portal import PortalConfig, mailbox_of, normalize_email, portal_url

if TYPE_CHECKING:
    from tickets.service.desk import Desk

log = logging.getLogger(__name__)

CSAT_RECEIVED = "crm.ticket.csat_received"
MAX_TOKEN = 200
MAX_COMMENT = 5000
GROUPS = ("agent", "team")


def survey_ttl(settings: Settings) -> dt.timedelta:
    raw = settings.get("CRM_CSAT_SURVEY_DAYS")
    try:
        return dt.timedelta(days=float(raw)) if raw not in (None, "") else dt.timedelta(days=14)
    except ValueError as exc:
        raise RuntimeError(f"CRM_CSAT_SURVEY_DAYS must be a number, not {raw!r}") from exc


def send_survey(session: Session, desk: Desk, ticket: Ticket, now: dt.datetime | None = None) -> CsatSurvey | None:
    """A survey for this resolve of `ticket`, mailed to its requester; None when there is no one
    to ask (no requester email) or no portal to answer on (the tenant has no mailbox yet)."""
    email = normalize_email(ticket.requester_email)
    if email is None:
        return None
    mailbox = mailbox_of(session, context.require_tenant())
    if mailbox is None:
        log.warning("no CSAT survey: the tenant has no portal mailbox yet", extra={"ticket_id": str(ticket.id)})
        return None
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    survey = CsatSurvey(ticket_id=ticket.id, token_hash=secret_hash(token), email=email, agent_id=ticket.assignee_id,
                        team_id=ticket.team_id, sla_met=not ticket.sla_breached, resolved_at=ticket.resolved_at or now,
                        expires_at=now + survey_ttl(desk.settings), created_at=now, updated_at=now)
    session.add(survey)
    session.flush()
    url = portal_url(PortalConfig.from_settings(desk.settings), mailbox, f"csat/{token}")
    text = (f"Hello,\n\nyour request #{ticket.number} \"{ticket.subject}\" was resolved.\n"
            f"How did we do? Rate our help from 1 to 5 here (it takes a few seconds):\n\n{url}\n\n"
            "Thank you!\n")
    request_mail(desk.outbox, session, from_support=True, purpose="notification", to=[email],
                 subject=f"How did we do? [#{ticket.number}] {ticket.subject}"[:998], text=text,
                 refers_to={"type": "ticket", "id": str(ticket.id)})
    return survey


def on_changed(desk: Desk) -> Any:
    def hook(session: Session, ticket: Ticket, changes: dict[str, list[Any]]) -> None:
        status = changes.get("status")
        if status and status[1] == "resolved" and status[0] != "resolved":
            send_survey(session, desk, ticket)

    return hook


def survey_for(session: Session, token: str, now: dt.datetime | None = None) -> CsatSurvey:
    """The survey of `token`, still answerable: 404 unknown (forged, another tenant's), 409
    already answered, 410 expired."""
    survey = None
    if token and len(token) <= MAX_TOKEN:
        survey = session.scalars(select(CsatSurvey).where(CsatSurvey.token_hash == secret_hash(token))).first()
    if survey is None:
        raise NotFound("No such survey.")
    if survey.used_at is not None:
        raise Conflict("This survey was already answered. Thank you!", errors={"token": ["Already answered."]})
    if as_utc(survey.expires_at) <= (now or utcnow()):
        raise Gone("This survey has expired.", errors={"token": ["Expired."]})
    return survey


def parse_answer(data: Any) -> tuple[int, str | None]:
    if not isinstance(data, dict):
        raise validation_error({"_body": ["Expected an object with rating (1-5) and comment."]})
    raw, comment = data.get("rating"), data.get("comment")
    try:
        rating = int(raw) if not isinstance(raw, bool) and raw not in (None, "") else None
    except (TypeError, ValueError):
        rating = None
    if rating is None or not 1 <= rating <= 5 or (isinstance(raw, float) and raw != rating):
        raise validation_error({"rating": ["A whole number from 1 to 5."]})
    if comment is not None and not isinstance(comment, str):
        raise validation_error({"comment": ["Text."]})
    comment = (comment or "").strip() or None
    if comment is not None and len(comment) > MAX_COMMENT:
        raise validation_error({"comment": [f"At most {MAX_COMMENT} characters."]})
    return rating, comment


def answer(session: Session, desk: Desk, token: str, rating: int, comment: str | None,
           now: dt.datetime | None = None) -> CsatResponse:
    now = now or utcnow()
    survey = survey_for(session, token, now)
    session.refresh(survey, with_for_update=True)  # two submits at once: the second sees used_at
    survey = survey_for(session, token, now)
    ticket = session.get(Ticket, (context.require_tenant(), survey.ticket_id))
    survey.used_at = now
    response = CsatResponse(survey_id=survey.id, ticket_id=survey.ticket_id, ticket_number=ticket.number if ticket else 0,
                            rating=rating, comment=comment, agent_id=survey.agent_id, team_id=survey.team_id,
                            sla_met=survey.sla_met, requester_email=survey.email, created_at=now, updated_at=now)
    session.add(response)
    session.flush()
    desk.outbox.emit(session, CSAT_RECEIVED, survey.ticket_id, response_body(response))
    return response


def response_body(r: CsatResponse) -> dict[str, Any]:
    return {"id": str(r.id), "ticket_id": str(r.ticket_id), "ticket_number": r.ticket_number, "rating": r.rating,
            "comment": r.comment, "agent_id": str(r.agent_id) if r.agent_id else None,
            "team_id": str(r.team_id) if r.team_id else None, "sla_met": r.sla_met,
            "requester_email": r.requester_email, "created_at": utc_iso(as_utc(r.created_at))}


def filtered(stmt: Select[Any], *, agent_id: uuid.UUID | None = None, team_id: uuid.UUID | None = None,
             ratings: Sequence[int] = (), since: dt.datetime | None = None, until: dt.datetime | None = None
             ) -> Select[Any]:
    if agent_id is not None:
        stmt = stmt.where(CsatResponse.agent_id == agent_id)
    if team_id is not None:
        stmt = stmt.where(CsatResponse.team_id == team_id)
    if ratings:
        stmt = stmt.where(CsatResponse.rating.in_(sorted(set(ratings))))
    if since is not None:
        stmt = stmt.where(CsatResponse.created_at >= since)
    if until is not None:
        stmt = stmt.where(CsatResponse.created_at < until)
    return stmt


def summary(session: Session, group_by: str | None, **filters: Any) -> list[dict[str, Any]]:
    """Per agent or team (or one row for all): count, average rating, share of 4-5 ratings."""
    if group_by is not None and group_by not in GROUPS:
        raise validation_error({"group_by": [f"One of: {', '.join(GROUPS)}."]})
    key = {"agent": CsatResponse.agent_id, "team": CsatResponse.team_id}.get(group_by or "")
    satisfied = func.sum(case((CsatResponse.rating >= 4, 1), else_=0))
    columns = [func.count().label("count"), func.avg(CsatResponse.rating).label("average"), satisfied.label("satisfied")]
    stmt = select(*(([key.label("key")] if key is not None else []) + columns)).select_from(CsatResponse)
    stmt = filtered(stmt, **filters)
    if key is not None:
        stmt = stmt.group_by(key).order_by(func.count().desc(), key)
    rows = session.execute(stmt).all()
    out = []
    for row in rows:
        count = int(row.count or 0)
        if count == 0 and key is None:
            out.append({"count": 0, "average": None, "satisfied_share": None})
            continue
        entry: dict[str, Any] = {"count": count, "average": round(float(row.average), 2),
                                 "satisfied_share": round(int(row.satisfied or 0) / count, 4)}
        if key is not None:
            entry = {f"{group_by}_id": str(row.key) if row.key else None, **entry}
        out.append(entry)
    return out


def install(desk: Desk) -> None:
    """On resolve: the survey."""
    desk.hooks.changed.append(on_changed(desk))


def consumers(settings: Settings, db: Database) -> list[ConsumerSpec]:
    """The area's event consumers (run by the worker)."""
    return []


def background(settings: Settings, db: Database) -> list[BackgroundLoop]:
    """The area's background loops (run by the worker)."""
    return []
