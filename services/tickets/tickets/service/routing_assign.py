"""Assignment within a team: who gets a ticket, the per-member open counts, handing tickets on.

Capacity holds under concurrency because every change of a member's open_count happens with that
member's row locked: picking a member takes `FOR UPDATE SKIP LOCKED` (a transaction assigning
concurrently takes the next member instead of waiting), counting an assignment or a freed slot
takes `FOR UPDATE`. The capacity test runs in the locking statement, so PostgreSQL re-checks it on
the row's newest version (READ COMMITTED). SQLite has one writer at a time: the same code is
serial there.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from crm_db.base import utcnow
from tickets.models import DONE_STATUSES, STATUSES, Ticket
from tickets.models.routing import Team, TeamMember

if TYPE_CHECKING:
    from tickets.service.desk import Desk

OPEN_STATUSES = tuple(s for s in STATUSES if s not in DONE_STATUSES)
# Which of a leaving member's tickets are handed on (schemas.routing.REASSIGN): pending and
# on-hold tickets wait on someone else, so by default they stay with the agent who knows them.
HAND_ON = {"open": ("new", "open"), "all": OPEN_STATUSES, "none": ()}
DRAIN_LIMIT = 200  # waiting tickets assigned in one transaction when room appears


def get_team(session: Session, team_id: uuid.UUID | None) -> Team | None:
    if team_id is None:
        return None
    return session.scalars(select(Team).where(Team.id == team_id)).first()


def _fresh(stmt: Select[Any]) -> Select[Any]:
    # A locked row must be read as it is now, not as this session loaded it earlier.
    return stmt.execution_options(populate_existing=True)


def member(session: Session, team_id: uuid.UUID, user_id: uuid.UUID) -> TeamMember | None:
    """The membership row, locked (waits for a concurrent assignment to the same member)."""
    stmt = select(TeamMember).where(TeamMember.team_id == team_id, TeamMember.user_id == user_id)
    return session.scalars(_fresh(stmt.with_for_update())).first()


def pick(session: Session, team: Team, exclude: Collection[uuid.UUID] = ()) -> TeamMember | None:
    """The member the team's mode gives the next ticket, locked; None for a manual team or when
    no available member has room (or every one that has is being assigned concurrently)."""
    if team.assignment_mode == "manual":
        return None
    stmt = select(TeamMember).where(
        TeamMember.team_id == team.id, TeamMember.available.is_(True),
        or_(TeamMember.capacity.is_(None), TeamMember.open_count < TeamMember.capacity))
    if exclude:
        stmt = stmt.where(TeamMember.user_id.not_in(list(exclude)))
    # round_robin: the member longest without an assignment (never assigned first), which cycles
    # through the team in member order; least_open: fewest open tickets first, ties the same way.
    waited = (TeamMember.last_assigned_at.asc().nulls_first(), TeamMember.position, TeamMember.user_id)
    order = waited if team.assignment_mode == "round_robin" else (TeamMember.open_count, *waited)
    stmt = stmt.order_by(*order).limit(1).with_for_update(skip_locked=True)
    return session.scalars(_fresh(stmt)).first()


def take(row: TeamMember) -> None:
    """Count a ticket just assigned to this (locked) member."""
    row.open_count += 1
    row.last_assigned_at = utcnow()


def count(session: Session, team_id: uuid.UUID, user_id: uuid.UUID, delta: int, *,
          assigned: bool = False) -> TeamMember | None:
    """Adjust a member's open count (no-op for a user who is not in the team)."""
    row = member(session, team_id, user_id)
    if row is not None:
        row.open_count = max(0, row.open_count + delta)
        if assigned and delta > 0:
            row.last_assigned_at = utcnow()
    return row


def recount(session: Session, team_id: uuid.UUID, user_id: uuid.UUID | None = None) -> None:
    """Recompute open counts from the tickets (members added with tickets already, deletions)."""
    rows = select(TeamMember).where(TeamMember.team_id == team_id)
    if user_id is not None:
        rows = rows.where(TeamMember.user_id == user_id)
    for row in session.scalars(_fresh(rows.with_for_update())).all():
        row.open_count = session.scalar(select(func.count()).select_from(Ticket).where(
            Ticket.team_id == team_id, Ticket.assignee_id == row.user_id, Ticket.status.in_(OPEN_STATUSES))) or 0


def waiting(session: Session, team_id: uuid.UUID, exclude: uuid.UUID | None = None) -> Ticket | None:
    """The team's oldest open ticket nobody is assigned, locked (skipping one another transaction holds)."""
    stmt = select(Ticket).where(Ticket.team_id == team_id, Ticket.assignee_id.is_(None),
                                Ticket.status.in_(OPEN_STATUSES))
    if exclude is not None:
        stmt = stmt.where(Ticket.id != exclude)
    stmt = stmt.order_by(Ticket.created_at, Ticket.id).limit(1).with_for_update(skip_locked=True)
    return session.scalars(stmt).first()


def reassign(session: Session, desk: Desk, ticket_id: uuid.UUID, assignee: uuid.UUID | None) -> None:
    """Change a ticket's assignee through the ticket use case (events, every area's hooks), also
    from inside another ticket's update hook (TicketService keeps pending status changes per
    ticket, so the nested update never emits the outer one's).
    """
    desk.tickets.update(session, ticket_id, {"assignee_id": assignee})


def hand_on(session: Session, desk: Desk, team: Team, user_id: uuid.UUID, which: str) -> int:
    """A member left (unavailable or removed): their tickets of the team in the chosen statuses
    go to other members by the team's mode, or back to the team unassigned when nobody has room."""
    statuses = HAND_ON[which]
    if not statuses:
        return 0
    ids = session.scalars(select(Ticket.id).where(
        Ticket.team_id == team.id, Ticket.assignee_id == user_id, Ticket.status.in_(statuses))
        .order_by(Ticket.created_at, Ticket.id).with_for_update()).all()
    for ticket_id in ids:
        row = pick(session, team, exclude={user_id})
        reassign(session, desk, ticket_id, row.user_id if row is not None else None)
    return len(ids)


def drain(session: Session, desk: Desk, team: Team, limit: int = DRAIN_LIMIT, exclude: uuid.UUID | None = None) -> int:
    """Room appeared in the team: its waiting tickets go, oldest first, to members by its mode."""
    done = 0
    while done < limit and team.assignment_mode != "manual":
        ticket = waiting(session, team.id, exclude)
        if ticket is None:
            break
        row = pick(session, team)
        if row is None:
            break
        reassign(session, desk, ticket.id, row.user_id)
        done += 1
    return done
