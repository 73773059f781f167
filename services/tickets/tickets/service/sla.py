"""SLA clocks: which policy applies to a ticket, its targets' due times in business hours, their
pauses, warnings and breaches.

A ticket's due times are a pure function of its anchors (creation, status changes, customer
messages and agent replies, stored in ticket_sla.anchors as they happen), the policy and the
calendar (`compute`). Editing a calendar or a policy recomputes the open tickets' due times from
the same anchors (`recompute`). What already happened (a warning or breach that fired) is kept in
ticket_sla.fired and never recomputed, so each target instance warns and breaches once.

Targets: first_response (from creation to the first public agent reply), next_response (from the
first customer message after an agent reply to the next agent reply, one round each), resolution
(from creation to resolved/closed; reopening resumes it). The clocks count business time only
while the ticket's status runs them: pending and on_hold pause them, resolved and closed stop them.

Timers (crm_db.timers, kinds sla_warning / sla_breach) are replanned in the transaction of every
change; the handlers recompute the state at firing time and only fire an occurrence that is
still due, so a moved or stale timer is harmless.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, bindparam, case, delete, event, func, literal, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from crm_core import context
from crm_core.errors import ProblemError
from crm_core.metrics import metrics
from crm_db.base import as_utc, utc_iso, utcnow
from crm_db.bulk import bulk_insert
from crm_db.timers import Timer, Timers
from crm_hours import ALWAYS_OPEN, Calendar, CalendarError, NoBusinessHours, run_clock, segments
from crm_query import compile_filter
from tickets.models import DONE_STATUSES, PAUSED_STATUSES, Ticket, timers
from tickets.models.sla import TARGETS, BusinessHours, SlaPolicy, TicketSla
from tickets.service import conditions, notify, routing

if TYPE_CHECKING:
    from tickets.service.desk import Desk

log = logging.getLogger(__name__)

WARNING, BREACH, FEED = "sla_warning", "sla_breach", "sla_holiday_feed"
SLA_WARNING_EVENT, SLA_BREACHED_EVENT = "crm.ticket.sla_warning", "crm.ticket.sla_breached"
TIMERS = Timers(timers)
BATCH = 500
MAX_SEGMENTS = 1000
# A change to any of these may change which policy's condition matches.
MATCH_FIELDS = frozenset({"status", "custom_status", "priority", "tags", "team_id", "assignee_id", "channel", "company_id",
                          "contact_id", "requester_email", "subject", "properties"})
_EPSILON = dt.timedelta(seconds=1)
_CACHE = "tickets.sla_cache"
_BREACHES = "tickets.sla_breaches"


def now() -> dt.datetime:
    """The clock of every anchor and computation (tests replace it)."""
    return utcnow()


# --- calendars and policies ------------------------------------------------------------------

@dataclass(frozen=True)
class CalendarInfo:
    calendar: Calendar
    id: uuid.UUID | None
    name: str
    time_zone: str

    def as_json(self) -> dict[str, Any]:
        return {"id": str(self.id) if self.id else None, "name": self.name, "time_zone": self.time_zone}


AROUND_THE_CLOCK = CalendarInfo(ALWAYS_OPEN, None, "Around the clock", "UTC")


def calendar_of(row: BusinessHours) -> CalendarInfo:
    holidays = [h.get("date") for h in [*(row.holidays or []), *(row.feed_holidays or [])]]
    try:
        cal = Calendar.from_spec(row.time_zone, row.frames, holidays)
    except CalendarError:  # stored rows were validated; a zone removed from tzdata falls back
        log.warning("business hours %s no longer valid; counting around the clock", row.id)
        cal = ALWAYS_OPEN
    return CalendarInfo(cal, row.id, row.name, row.time_zone)


@dataclass
class _Cache:
    """Policies and calendars of the tenant, read once per transaction."""

    policies: list[SlaPolicy]
    calendars: dict[uuid.UUID, CalendarInfo]
    default: CalendarInfo

    def calendar_for(self, policy: SlaPolicy | None) -> CalendarInfo:
        if policy is not None and policy.business_hours_id is not None:
            return self.calendars.get(policy.business_hours_id, self.default)
        return self.default

    def policy(self, policy_id: uuid.UUID | None) -> SlaPolicy | None:
        return next((p for p in self.policies if p.id == policy_id), None) if policy_id else None


def _cache(session: Session) -> _Cache:
    # Per tenant: the timer scheduler's one transaction serves several tenants.
    caches: dict[uuid.UUID, _Cache] = session.info.setdefault(_CACHE, {})
    tenant = context.require_tenant()
    found = caches.get(tenant)
    if found is None:
        policies = list(session.scalars(select(SlaPolicy).order_by(SlaPolicy.position, SlaPolicy.created_at, SlaPolicy.id)))
        rows = list(session.scalars(select(BusinessHours).order_by(BusinessHours.created_at, BusinessHours.id)))
        calendars = {r.id: calendar_of(r) for r in rows}
        default = next((calendars[r.id] for r in rows if r.is_default), AROUND_THE_CLOCK)
        found = caches[tenant] = _Cache(policies, calendars, default)
    return found


def forget(session: Session) -> None:
    """After a write to calendars or policies: the next read sees it."""
    session.info.get(_CACHE, {}).pop(context.require_tenant(), None)


def match_policy(session: Session, ticket_id: uuid.UUID) -> uuid.UUID | None:
    """The first policy (by position) whose condition the ticket matches."""
    for policy in _cache(session).policies:
        try:
            if conditions.first_match(session, ticket_id, [(policy.id, policy.condition)]) is not None:
                return policy.id
        except ProblemError:  # a condition naming a field since removed matches nothing until fixed
            log.warning("SLA policy %s: condition no longer compiles; skipped", policy.id)
    return None


def match_many(session: Session, ticket_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID | None]:
    """The first matching policy of each ticket, in one query (a CASE column per policy)."""
    policies = _cache(session).policies
    if not ticket_ids:
        return {}
    if not policies:
        return dict.fromkeys(ticket_ids)
    registry, dialect = conditions.ticket_fields(session), session.get_bind().dialect.name
    columns = []
    for p in policies:
        try:
            where = compile_filter(p.condition, registry, dialect) if p.condition else None
        except ProblemError:  # a condition naming a field since removed matches nothing until fixed
            columns.append(literal(0))
            continue
        columns.append(literal(1) if where is None else case((where, literal(1)), else_=literal(0)))
    found: dict[uuid.UUID, uuid.UUID | None] = {}
    for row in session.execute(select(Ticket.id, *columns).where(Ticket.id.in_(list(ticket_ids)))):
        found[row[0]] = next((p.id for p, hit in zip(policies, row[1:], strict=True) if hit), None)
    return found


# --- the clock: a pure function of anchors, policy, calendar ----------------------------------

def _t(text: str) -> dt.datetime:
    return as_utc(dt.datetime.fromisoformat(text))


@dataclass(frozen=True)
class Anchors:
    created: dt.datetime
    statuses: list[tuple[dt.datetime, str]]  # the first is the status at creation
    messages: list[tuple[dt.datetime, str]]  # "customer" or "agent" (a public agent reply)

    @classmethod
    def of(cls, data: dict[str, Any]) -> Anchors:
        return cls(_t(data["created"]), sorted((_t(a), s) for a, s in data.get("statuses", [])),
                   sorted((_t(a), w) for a, w in data.get("messages", [])))

    def status_at(self, moment: dt.datetime) -> str:
        current = self.statuses[0][1] if self.statuses else "new"
        for at, status in self.statuses:
            if at > moment:
                break
            current = status
        return current

    def stretches(self) -> list[tuple[dt.datetime, dt.datetime | None, str]]:
        """(start, end or None, status) over the ticket's life."""
        out = []
        for i, (at, status) in enumerate(self.statuses):
            end = self.statuses[i + 1][0] if i + 1 < len(self.statuses) else None
            if end is None or end > at:
                out.append((at, end, status))
        return out


def new_anchors(created: dt.datetime, status: str) -> dict[str, Any]:
    at = utc_iso(created)
    return {"created": at, "statuses": [[at, status]], "messages": []}


def _stopped(status: str) -> bool:
    return status in PAUSED_STATUSES or status in DONE_STATUSES


@dataclass
class TargetState:
    target: str
    cycle: int
    minutes: int
    started_at: dt.datetime
    anchor_reason: str
    met_at: dt.datetime | None = None
    due_at: dt.datetime | None = None
    warning_at: dt.datetime | None = None
    paused: bool = False
    paused_by: str | None = None
    breached: bool = False
    breached_at: dt.datetime | None = None
    warned_at: dt.datetime | None = None
    elapsed: dt.timedelta = dt.timedelta(0)
    remaining: dt.timedelta = dt.timedelta(0)
    paused_time: dt.timedelta = dt.timedelta(0)

    @property
    def key(self) -> str:
        return f"{self.target}:{self.cycle}"

    @property
    def running(self) -> bool:
        return self.met_at is None and self.due_at is not None

    def as_json(self, calendar: CalendarInfo | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "target": self.target, "cycle": self.cycle, "started_at": utc_iso(self.started_at), "due_at": utc_iso(self.due_at),
            "warning_at": utc_iso(self.warning_at), "met_at": utc_iso(self.met_at), "breached": self.breached,
            "breached_at": utc_iso(self.breached_at), "warned_at": utc_iso(self.warned_at), "paused": self.paused,
            "paused_by": self.paused_by,
        }
        if calendar is not None:
            body["why"] = self.why(calendar)
        return body

    def why(self, calendar: CalendarInfo) -> dict[str, Any]:
        minutes = lambda d: round(d / dt.timedelta(minutes=1), 2)  # noqa: E731
        reason = "ticket created" if self.anchor_reason == "ticket_created" else "customer message"
        text = (f"{self.minutes} business minutes from {utc_iso(self.started_at)} ({reason}) in "
                f"'{calendar.name}' ({calendar.time_zone})")
        if self.paused_time:
            text += f"; the clock stood still for {minutes(self.paused_time)} minutes (pending, on hold or resolved)"
        if self.met_at is not None:
            text += f"; met at {utc_iso(self.met_at)}"
        elif self.due_at is None:
            text += f"; stopped ({self.paused_by}) with {minutes(self.remaining)} business minutes left"
        else:
            text += f"; due {utc_iso(self.due_at)}"
        return {"anchor": utc_iso(self.started_at), "anchor_reason": self.anchor_reason, "minutes": self.minutes,
                "elapsed_minutes": minutes(self.elapsed), "remaining_minutes": minutes(self.remaining),
                "paused_minutes": minutes(self.paused_time), "calendar": calendar.as_json(), "text": text}


def _instances(anchors: Anchors, policy: SlaPolicy) -> list[tuple[str, int, int, dt.datetime, str, dt.datetime | None]]:
    """(target, cycle, minutes, start, anchor reason, met_at) of every target instance."""
    out: list[tuple[str, int, int, dt.datetime, str, dt.datetime | None]] = []
    agent = [at for at, who in anchors.messages if who == "agent" and at >= anchors.created]
    if policy.first_response_minutes:
        out.append(("first_response", 0, policy.first_response_minutes, anchors.created, "ticket_created",
                    agent[0] if agent else None))
    if policy.next_response_minutes:
        cycle, waiting, seen_agent = 0, None, False
        for at, who in anchors.messages:
            if who == "agent":
                if waiting is not None:
                    out.append(("next_response", cycle, policy.next_response_minutes, waiting, "customer_message", at))
                    waiting = None
                seen_agent = True
            elif who == "customer" and seen_agent and waiting is None:
                cycle, waiting = cycle + 1, at
        if waiting is not None:
            out.append(("next_response", cycle, policy.next_response_minutes, waiting, "customer_message", None))
    if policy.resolution_minutes:
        current = anchors.statuses[-1][1] if anchors.statuses else "new"
        met = None
        if current in DONE_STATUSES:
            # The latest entry into resolved/closed (resolved -> closed keeps the resolve time).
            for at, status in reversed(anchors.statuses):
                if status not in DONE_STATUSES:
                    break
                met = at
        out.append(("resolution", 0, policy.resolution_minutes, anchors.created, "ticket_created", met))
    return out


def compute(anchors: Anchors, policy: SlaPolicy | None, calendar: Calendar, fired: dict[str, str],
            at: dt.datetime) -> list[TargetState]:
    """Every target instance's state at `at`."""
    if policy is None:
        return []
    stretches = anchors.stretches()
    states = []
    for target, cycle, minutes, start, reason, met in _instances(anchors, policy):
        end = met if met is not None else None
        running: list[tuple[dt.datetime, dt.datetime | None]] = []
        paused_time = dt.timedelta(0)
        horizon = end if end is not None else max(at, start)
        for s, e, status in stretches:
            lo, hi = max(s, start), (e if end is None else (min(e, end) if e is not None else end))
            if hi is not None and hi <= lo:
                continue
            if _stopped(status):
                paused_time += max(dt.timedelta(0), min(hi or horizon, horizon) - lo)
            else:
                running.append((lo, hi))
        if met is not None:
            running.append((met, None))  # the due time as it stood when met: as if still running
        total = dt.timedelta(minutes=minutes)
        state = TargetState(target, cycle, minutes, start, reason, met, paused_time=paused_time)
        try:
            warn = [total * policy.warning_threshold / 100] if met is None and policy.warning_threshold else []
            run = run_clock(calendar, total, running, met if met is not None else at, warn)
            state.due_at, state.elapsed, state.remaining = run.due_at, run.elapsed, run.remaining
            if run.due_at is not None and run.marks:
                state.warning_at = run.marks[0]
        except NoBusinessHours:
            state.due_at = None
        if met is None:
            current = anchors.status_at(at)
            state.paused, state.paused_by = _stopped(current), current if _stopped(current) else None
        fired_breach = fired.get(f"breach:{state.key}")
        late = state.due_at is not None and (met > state.due_at if met is not None else state.due_at <= at)
        if fired_breach or late:
            state.breached, state.breached_at = True, state.due_at or (_t(fired_breach) if fired_breach else None)
        warned = fired.get(f"warning:{state.key}")
        state.warned_at = _t(warned) if warned else None
        states.append(state)
    return states


def summary(states: Sequence[TargetState], fired: dict[str, str]) -> tuple[dt.datetime | None, bool]:
    """tickets.sla_due_at (earliest due of a running unmet target) and tickets.sla_breached."""
    dues = [s.due_at for s in states if s.running and s.due_at is not None]
    breached = any(s.breached for s in states) or any(k.startswith("breach:") for k in fired)
    return (min(dues) if dues else None), breached


def plan(states: Sequence[TargetState], fired: dict[str, str], at: dt.datetime) -> dict[str, list[tuple[dt.datetime, dict[str, Any]]]]:
    """The timers a ticket needs: a warning and a breach per running instance not yet fired."""
    out: dict[str, list[tuple[dt.datetime, dict[str, Any]]]] = {WARNING: [], BREACH: []}
    for s in states:
        if not s.running or s.due_at is None:
            continue
        payload = {"target": s.target, "cycle": s.cycle}
        if f"breach:{s.key}" not in fired:
            out[BREACH].append((s.due_at, {**payload, "at": utc_iso(s.due_at)}))
            if s.warning_at is not None and f"warning:{s.key}" not in fired and s.due_at > at:
                out[WARNING].append((s.warning_at, {**payload, "at": utc_iso(s.warning_at)}))
    return out


# --- applying it to tickets -------------------------------------------------------------------

def _write_summary(session: Session, ticket: Ticket, policy_id: uuid.UUID | None, due: dt.datetime | None,
                   breached: bool) -> None:
    """The ticket's SLA columns, without a version bump (derived data, not an edit: an agent's
    If-Match must not go stale because a clock moved) and without dirtying the ORM object."""
    if (ticket.sla_policy_id, _norm(ticket.sla_due_at), bool(ticket.sla_breached)) == (policy_id, _norm(due), breached):
        return
    session.execute(update(Ticket.__table__).where(Ticket.__table__.c.tenant_id == context.require_tenant(),
                                                   Ticket.__table__.c.id == ticket.id)
                    .values(sla_policy_id=policy_id, sla_due_at=due, sla_breached=breached))
    set_committed_value(ticket, "sla_policy_id", policy_id)
    set_committed_value(ticket, "sla_due_at", due)
    set_committed_value(ticket, "sla_breached", breached)
    # An update's answer was serialised (RecordService.body, per version) before the hooks ran:
    # drop it so the answer shows these columns. (crm.ticket.updated went out with the old ones.)
    session.info.get("crm_bodies", {}).pop((Ticket, ticket.id, ticket.version), None)


def _norm(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else as_utc(value)


def _state_row(session: Session, ticket: Ticket, *, lock: bool = True) -> TicketSla:
    stmt = select(TicketSla).where(TicketSla.ticket_id == ticket.id)
    if lock:
        stmt = stmt.with_for_update()
    row = session.scalars(stmt).first()
    if row is None:  # a ticket from before the SLA area (or a hook that did not run): start now
        row = TicketSla(ticket_id=ticket.id, anchors=new_anchors(as_utc(ticket.created_at), ticket.status), targets=[],
                        fired={}, closed=ticket.status == "closed")
        session.add(row)
    return row


def refresh(session: Session, ticket: Ticket, row: TicketSla, *, rematch: bool, at: dt.datetime | None = None) -> list[TargetState]:
    """Recompute one ticket: its policy (if asked), targets, summary columns and timers. The
    caller cancelled the ticket's pending timers before reading `row` (see _cancel)."""
    at = at or now()
    cache = _cache(session)
    if rematch:
        row.policy_id = match_policy(session, ticket.id)
    policy = cache.policy(row.policy_id)
    info = cache.calendar_for(policy)
    fired = dict(row.fired or {})
    states = compute(Anchors.of(row.anchors), policy, info.calendar, fired, at)
    row.targets = [s.as_json() for s in states]
    row.closed = ticket.status == "closed"
    due, breached = summary(states, fired)
    _write_summary(session, ticket, row.policy_id, due, breached)
    for kind, planned in plan(states, fired, at).items():
        TIMERS.schedule_many(session, kind, ticket.id, planned)
    return states


def _cancel(session: Session, ticket_id: uuid.UUID) -> None:
    # Pending timers first: a scheduler firing one holds its row lock, so this waits for that
    # commit (and then skips the fired row); only then is the fired list read.
    TIMERS.cancel(session, WARNING, ticket_id)
    TIMERS.cancel(session, BREACH, ticket_id)


def _lock_ticket(session: Session, ticket: Ticket) -> None:
    """Lock order for every SLA write: ticket row, then timers, then ticket_sla (the timer
    handler takes the ticket with SKIP LOCKED, so it never waits on a writer)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Ticket.id).where(Ticket.id == ticket.id).with_for_update())


def on_created(session: Session, ticket: Ticket) -> None:
    at = now()
    row = TicketSla(ticket_id=ticket.id, anchors=new_anchors(at, ticket.status), targets=[], fired={},
                    closed=ticket.status == "closed")
    session.add(row)
    session.flush()
    refresh(session, ticket, row, rematch=True, at=at)


def on_changed(session: Session, ticket: Ticket, changes: dict[str, list[Any]]) -> None:
    if not MATCH_FIELDS & changes.keys():
        return
    at = now()
    _lock_ticket(session, ticket)
    _cancel(session, ticket.id)
    row = _state_row(session, ticket)
    if "status" in changes:
        anchors = dict(row.anchors)
        anchors["statuses"] = [*anchors.get("statuses", []), [utc_iso(at), changes["status"][1]]]
        row.anchors = anchors
    refresh(session, ticket, row, rematch=True, at=at)


def on_message(session: Session, ticket: Ticket, message: Any) -> None:
    # Only public replies by an agent answer; internal notes and system messages never do.
    if message.kind == "reply" and message.author_type == "agent":
        who = "agent"
    elif message.kind == "customer":
        who = "customer"
    else:
        return
    at = now()
    _lock_ticket(session, ticket)
    _cancel(session, ticket.id)
    row = _state_row(session, ticket)
    anchors = dict(row.anchors)
    anchors["messages"] = [*anchors.get("messages", []), [utc_iso(at), who]]
    row.anchors = anchors
    refresh(session, ticket, row, rematch=False, at=at)


def _scope(stmt: Any, policy_ids: Iterable[uuid.UUID | None] | None) -> Any:
    """Open tickets' SLA rows under `policy_ids` (None inside: tickets without a policy; None: all),
    or None when the scope names nothing."""
    sla_t = TicketSla.__table__
    stmt = stmt.where(sla_t.c.tenant_id == context.require_tenant(), sla_t.c.closed.is_(False))
    if policy_ids is None:
        return stmt
    wanted = set(policy_ids)
    real = [p for p in wanted if p is not None]
    cond = sla_t.c.policy_id.in_(real) if real else None
    if None in wanted:
        cond = sla_t.c.policy_id.is_(None) if cond is None else (cond | sla_t.c.policy_id.is_(None))
    return None if cond is None else stmt.where(cond)


def policies_counting_in(session: Session, calendar_id: uuid.UUID, was_default: bool = False) -> set[uuid.UUID | None]:
    """The policies whose clocks count in this calendar: its own, and those of the default
    calendar (no calendar, or one gone) if it is or was the default."""
    forget(session)
    cache = _cache(session)
    default = was_default or cache.default.id == calendar_id
    return {p.id for p in cache.policies if p.business_hours_id == calendar_id
            or (p.business_hours_id is None and default)
            or (p.business_hours_id is not None and p.business_hours_id not in cache.calendars and default)}


def count_open(session: Session, policy_ids: Iterable[uuid.UUID | None] | None = None) -> int:
    """How many open tickets a recompute of `policy_ids` would go through."""
    stmt = _scope(select(func.count()).select_from(TicketSla.__table__), policy_ids)
    return 0 if stmt is None else int(session.execute(stmt).scalar_one())


def recompute(session: Session, *, policy_ids: Iterable[uuid.UUID | None] | None = None, rematch: bool = False,
              at: dt.datetime | None = None) -> int:
    """Recompute every open (not closed) ticket's SLA state from its anchors, in batches: those
    under `policy_ids` (None: all), re-matching policies first if asked. Returns tickets done."""
    return recompute_chunk(session, policy_ids=policy_ids, rematch=rematch, at=at)[0]


def recompute_chunk(session: Session, *, policy_ids: Iterable[uuid.UUID | None] | None = None, rematch: bool = False,
                    at: dt.datetime | None = None, after: uuid.UUID | None = None,
                    limit: int | None = None) -> tuple[int, uuid.UUID | None]:
    """`recompute` of the open tickets after ticket id `after`, at most `limit` of them (in ticket
    id order): returns how many were done and the last one's id (sla_jobs goes on from there)."""
    at = at or now()
    forget(session)
    cache = _cache(session)
    tenant = context.require_tenant()
    sla_t, ticket_t, timer_t = TicketSla.__table__, Ticket.__table__, timers
    stmt = _scope(select(sla_t.c.id, sla_t.c.ticket_id), policy_ids)
    if stmt is None:
        return 0, None
    if after is not None:
        stmt = stmt.where(sla_t.c.ticket_id > after)
    stmt = stmt.order_by(sla_t.c.ticket_id)
    ids = [(r.id, r.ticket_id) for r in session.execute(stmt if limit is None else stmt.limit(limit))]
    done = 0
    postgres = session.get_bind().dialect.name == "postgresql"
    for i in range(0, len(ids), BATCH):
        chunk = ids[i:i + BATCH]
        ticket_ids = [t for _, t in chunk]
        lock = select(ticket_t.c.id, ticket_t.c.status, ticket_t.c.sla_policy_id, ticket_t.c.sla_due_at,
                      ticket_t.c.sla_breached).where(ticket_t.c.tenant_id == tenant, ticket_t.c.id.in_(ticket_ids))
        tickets = {r.id: r for r in session.execute(lock.with_for_update() if postgres else lock)}
        rows = session.execute(select(sla_t.c.id, sla_t.c.ticket_id, sla_t.c.policy_id, sla_t.c.anchors, sla_t.c.fired,
                                      sla_t.c.targets)
                               .where(sla_t.c.tenant_id == tenant, sla_t.c.ticket_id.in_(ticket_ids))).all()
        # Read after the tickets' locks: a timer that fired before holds no lock any more and its
        # fired flag is committed; one the scheduler claims now skips these locked tickets.
        planned_now: dict[uuid.UUID, set[tuple[str, str, Any, Any]]] = {}
        for tm in session.execute(select(timer_t.c.subject_id, timer_t.c.kind, timer_t.c.due_at, timer_t.c.payload).where(
                timer_t.c.tenant_id == tenant, timer_t.c.kind.in_([WARNING, BREACH]), timer_t.c.subject_id.in_(ticket_ids),
                timer_t.c.fired_at.is_(None))):
            planned_now.setdefault(tm.subject_id, set()).add(
                (tm.kind, utc_iso(as_utc(tm.due_at)) or "", tm.payload.get("target"), tm.payload.get("cycle")))
        matched = match_many(session, ticket_ids) if rematch else {}
        sla_updates, ticket_updates, timer_rows, replanned = [], [], [], []
        for r in rows:
            t = tickets.get(r.ticket_id)
            if t is None:
                continue
            policy_id = matched.get(r.ticket_id) if rematch else r.policy_id
            policy = cache.policy(policy_id)
            fired = dict(r.fired or {})
            states = compute(Anchors.of(r.anchors), policy, cache.calendar_for(policy).calendar, fired, at)
            targets = [s.as_json() for s in states]
            if policy_id != r.policy_id or targets != r.targets:
                sla_updates.append({"rid": r.id, "policy_id": policy_id, "targets": targets})
            due, breached = summary(states, fired)
            if (t.sla_policy_id, _norm(t.sla_due_at), bool(t.sla_breached)) != (policy_id, _norm(due), breached):
                ticket_updates.append({"tid": t.id, "sla_policy_id": policy_id, "sla_due_at": due, "sla_breached": breached})
            wanted = [(kind, due_at, payload) for kind, planned in plan(states, fired, at).items() for due_at, payload in planned]
            if {(k, utc_iso(d) or "", p["target"], p["cycle"]) for k, d, p in wanted} != planned_now.get(t.id, set()):
                replanned.append(t.id)
                timer_rows += [{"tenant_id": tenant, "kind": kind, "subject_id": t.id, "due_at": due_at, "payload": payload,
                                "created_at": at, "attempts": 0} for kind, due_at, payload in wanted]
        if replanned:
            session.execute(delete(timer_t).where(timer_t.c.tenant_id == tenant, timer_t.c.kind.in_([WARNING, BREACH]),
                                                  timer_t.c.subject_id.in_(replanned), timer_t.c.fired_at.is_(None)))
        if postgres:  # one statement per table and batch, not one per row
            _pg_update(session, "ticket_sla", "rid", {"policy_id": "uuid", "targets": "jsonb"}, sla_updates)
            _pg_update(session, "tickets", "tid", {"sla_policy_id": "uuid", "sla_due_at": "timestamptz",
                                                   "sla_breached": "boolean"}, ticket_updates)
            bulk_insert(session.connection(), timer_t, timer_rows)
        elif sla_updates or ticket_updates or timer_rows:
            _orm_updates(session, sla_updates, ticket_updates, timer_rows)
        done += len(rows)
    session.expire_all()  # ORM objects of this session no longer show the columns written above
    return done, (ids[-1][1] if ids else None)


def _orm_updates(session: Session, sla_updates: list[dict[str, Any]], ticket_updates: list[dict[str, Any]],
                 timer_rows: list[dict[str, Any]]) -> None:
    """The same writes as executemany (SQLite)."""
    tenant, sla_t, ticket_t, timer_t = context.require_tenant(), TicketSla.__table__, Ticket.__table__, timers
    if sla_updates:
        session.execute(update(sla_t).where(sla_t.c.tenant_id == tenant, sla_t.c.id == bindparam("rid"))
                        .values(policy_id=bindparam("policy_id"), targets=bindparam("targets")), sla_updates)
    if ticket_updates:
        session.execute(update(ticket_t).where(ticket_t.c.tenant_id == tenant, ticket_t.c.id == bindparam("tid"))
                        .values(sla_policy_id=bindparam("sla_policy_id"), sla_due_at=bindparam("sla_due_at"),
                                sla_breached=bindparam("sla_breached")), ticket_updates)
    if timer_rows:
        session.execute(timer_t.insert(), timer_rows)


def _pg_update(session: Session, table: str, key: str, columns: dict[str, str], rows: list[dict[str, Any]]) -> None:
    """UPDATE table SET columns FROM json_to_recordset(rows): the rows' values as one JSON array
    (names and types are this module's constants, never input)."""
    if not rows:
        return
    def plain(value: Any) -> Any:
        if isinstance(value, dt.datetime):
            return utc_iso(value)
        return str(value) if isinstance(value, uuid.UUID) else value

    record = ", ".join([f"{key} uuid", *(f"{name} {kind}" for name, kind in columns.items())])
    sets = ", ".join(f"{name} = v.{name}" for name in columns)
    statement = text(f"UPDATE {table} AS t SET {sets} FROM json_to_recordset(:rows) AS v({record}) "  # noqa: S608
                     f"WHERE t.tenant_id = :tenant AND t.id = v.{key}").bindparams(bindparam("rows", type_=JSON))
    session.execute(statement, {"rows": [{k: plain(v) for k, v in row.items()} for row in rows],
                                "tenant": context.require_tenant()})


# --- the state as the API shows it -------------------------------------------------------------

def state(session: Session, ticket: Ticket, at: dt.datetime | None = None) -> dict[str, Any]:
    """GET /v1/tickets/{id}/sla: the policy, every target (live, at `at`), the clock's segments."""
    at = at or now()
    cache = _cache(session)
    row = session.scalars(select(TicketSla).where(TicketSla.ticket_id == ticket.id)).first()
    anchors = Anchors.of(row.anchors) if row is not None else Anchors.of(new_anchors(as_utc(ticket.created_at), ticket.status))
    policy = cache.policy(row.policy_id if row is not None else None)
    info = cache.calendar_for(policy)
    fired = dict(row.fired or {}) if row is not None else {}
    states = compute(anchors, policy, info.calendar, fired, at)
    latest: dict[str, TargetState] = {}
    history = []
    for s in states:
        if s.target in latest:
            history.append(latest[s.target])
        latest[s.target] = s
    due, breached = summary(states, fired)
    segs, truncated = clock_segments(anchors, info.calendar, at)
    return {
        "ticket_id": str(ticket.id),
        "policy": None if policy is None else {
            "id": str(policy.id), "name": policy.name, "condition": policy.condition, "warning_threshold": policy.warning_threshold,
            **{f"{t}_minutes": getattr(policy, f"{t}_minutes") for t in TARGETS}},
        "calendar": info.as_json() if policy is not None else None,
        "sla_due_at": utc_iso(due), "sla_breached": breached,
        "targets": [latest[t].as_json(info) for t in TARGETS if t in latest],
        "history": [h.as_json(info) for h in history],
        "segments": segs, "segments_truncated": truncated,
    }


def clock_segments(anchors: Anchors, calendar: Calendar, at: dt.datetime) -> tuple[list[dict[str, Any]], bool]:
    """From creation to `at`: running (open business time, a running status), paused (pending,
    on_hold: with the status), stopped (resolved, closed), outside_hours / holiday (a running
    status but the calendar is closed). The most recent MAX_SEGMENTS."""
    out: list[dict[str, Any]] = []
    for start, end, status in anchors.stretches():
        stop = min(end, at) if end is not None else at
        if stop <= start:
            continue
        if _stopped(status):
            out.append({"start": start, "end": stop, "state": "paused" if status in PAUSED_STATUSES else "stopped",
                        "status": status})
            continue
        for seg in segments(calendar, start, stop):
            out.append({"start": seg.start, "end": seg.end, "state": "running" if seg.open else seg.reason, "status": status})
    truncated = len(out) > MAX_SEGMENTS
    out = out[-MAX_SEGMENTS:]
    return [{**s, "start": utc_iso(s["start"]), "end": utc_iso(s["end"])} for s in out], truncated


# --- timers: warnings, breaches, holiday feeds -------------------------------------------------

@dataclass
class SlaTimerHandler:
    """The scheduler's handler for sla_warning and sla_breach timers (one tenant's batch)."""

    desk: Desk
    clock: Callable[[], dt.datetime] = field(default=lambda: now())
    retry_in: dt.timedelta = dt.timedelta(seconds=5)

    def warning(self, session: Session, batch: list[Timer]) -> None:
        self._fire(session, batch, WARNING)

    def breach(self, session: Session, batch: list[Timer]) -> None:
        self._fire(session, batch, BREACH)

    def _fire(self, session: Session, batch: list[Timer], kind: str) -> None:
        at = self.clock()
        postgres = session.get_bind().dialect.name == "postgresql"
        for timer in batch:
            stmt = select(Ticket).where(Ticket.id == timer.subject_id)
            ticket = session.scalars(stmt.with_for_update(skip_locked=True) if postgres else stmt).first()
            if ticket is None:
                exists = postgres and session.scalars(select(Ticket.id).where(Ticket.id == timer.subject_id)).first()
                if exists:  # a writer holds the ticket: it replans; try again shortly in case it doesn't
                    TIMERS.schedule(session, kind, timer.subject_id, at + self.retry_in, timer.payload)
                continue
            self._one(session, ticket, timer, kind, at)

    def _one(self, session: Session, ticket: Ticket, timer: Timer, kind: str, at: dt.datetime) -> None:
        row = session.scalars(select(TicketSla).where(TicketSla.ticket_id == ticket.id).with_for_update()).first()
        if row is None:
            return
        cache = _cache(session)
        policy = cache.policy(row.policy_id)
        info = cache.calendar_for(policy)
        fired = dict(row.fired or {})
        states = compute(Anchors.of(row.anchors), policy, info.calendar, fired, at)
        key = f"{timer.payload.get('target')}:{timer.payload.get('cycle')}"
        instance = next((s for s in states if s.key == key), None)
        flag = f"{'breach' if kind == BREACH else 'warning'}:{key}"
        if instance is None or not instance.running or flag in fired:
            return  # met, paused, gone with a policy change, or already fired
        moment = instance.due_at if kind == BREACH else instance.warning_at
        if moment is None or moment > at + _EPSILON:
            return  # moved later: the replanned timer will come
        if kind == WARNING and f"breach:{key}" in fired:
            return
        fired[flag] = utc_iso(at) or ""
        row.fired = fired
        states = compute(Anchors.of(row.anchors), policy, info.calendar, fired, at)
        row.targets = [s.as_json() for s in states]
        due, breached = summary(states, fired)
        _write_summary(session, ticket, row.policy_id, due, breached)
        payload = {"ticket_id": str(ticket.id), "number": ticket.number, "subject": ticket.subject,
                   "target": instance.target, "cycle": instance.cycle, "due_at": utc_iso(instance.due_at),
                   "warning_at": utc_iso(instance.warning_at), "policy_id": str(policy.id) if policy else None,
                   "assignee_id": str(ticket.assignee_id) if ticket.assignee_id else None,
                   "team_id": str(ticket.team_id) if ticket.team_id else None, "priority": ticket.priority}
        if kind == BREACH:
            self.desk.outbox.emit(session, SLA_BREACHED_EVENT, ticket.id, {**payload, "breached_at": utc_iso(instance.due_at)})
            lead = routing.team_lead(session, ticket.team_id)
            notify.request_notifications(
                session, self.desk.outbox, [u for u in (ticket.assignee_id, lead) if u is not None], kind="sla_breach",
                title=f"SLA breached: #{ticket.number} {ticket.subject}"[:300], subject_type="ticket", subject_id=ticket.id,
                body=f"{instance.target.replace('_', ' ')} was due {utc_iso(instance.due_at)}",
                data={"target": instance.target, "cycle": instance.cycle, "due_at": utc_iso(instance.due_at)})
            _count_breach_after_commit(session)
        else:
            self.desk.outbox.emit(session, SLA_WARNING_EVENT, ticket.id, payload)
            self.desk.hooks.on_sla_warning(session, ticket, instance.target)


def _count_breach_after_commit(session: Session) -> None:
    """crm_tickets_breached_total counts committed breaches only (a rolled-back round redoes them)."""
    pending = session.info.get(_BREACHES, 0)
    session.info[_BREACHES] = pending + 1
    if pending:
        return

    def count(sess: Session) -> None:
        n = sess.info.pop(_BREACHES, 0)
        if n:
            metrics().tickets_breached.inc(n)

    def drop(sess: Session) -> None:
        sess.info.pop(_BREACHES, None)

    event.listen(session, "after_commit", count, once=True)
    event.listen(session, "after_soft_rollback", drop, once=True)


# --- composition ----------------------------------------------------------------------------------

def install(desk: Desk) -> None:
    """Registers the area's ticket hooks (desk.hooks)."""
    desk.hooks.created.append(on_created)
    desk.hooks.changed.append(on_changed)
    desk.hooks.message_added.append(on_message)
