"""Use cases of the routing area: teams and routing rules, and the ticket hooks that route a new
ticket (the first matching rule), assign it within its team (service/routing_assign.py), keep the
members' open counts, hand tickets on when an agent leaves, and escalate SLA warnings to the lead.

Everything runs inside the transaction of the ticket change that causes it: a ticket is routed
and assigned in the commit that creates it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core import context
from crm_core.errors import Conflict, NotFound, ProblemError, validation_error
from crm_core.settings import Settings
from crm_db.database import Database
from crm_events.consumer import Handler
from crm_events.envelope import Event
from crm_events.records import RecordService
from crm_runtime.cli import BackgroundLoop, ConsumerSpec
from tickets.models import DONE_STATUSES, Ticket
from tickets.models.routing import MemberSpec, RoutingRule, Team, TeamMember
from tickets.schemas.routing import RuleSchema, TeamSchema
from tickets.service import conditions, routing_assign
from tickets.service.notify import request_notifications

if TYPE_CHECKING:
    from tickets.service.desk import Desk

TICKET_TOPIC = "crm.tickets.ticket"
CONSUMER_GROUP = "tickets.routing"
_REASSIGN = "routing.reassign"  # session.info: how a team update hands on a leaving member's tickets
_QUIET = "routing.quiet_assign"  # session.info: ticket ids whose next assignment notifies nobody


def _uuid(value: Any) -> uuid.UUID | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _actor() -> uuid.UUID | None:
    actor = context.current_actor_id()
    return uuid.UUID(actor) if actor else None


def require_team(session: Session, team_id: uuid.UUID | None, field: str = "team_id") -> Team | None:
    """The tenant's team, or a 422 naming the field (another tenant's team is no team here)."""
    team = routing_assign.get_team(session, team_id)
    if team_id is not None and team is None:
        raise validation_error({field: [f"No team with id {team_id}."]})
    return team


def team_lead(session: Session, team_id: uuid.UUID | None) -> uuid.UUID | None:
    """The lead of the team (a user id), or None: whom an SLA breach or warning also concerns."""
    if team_id is None:
        return None
    return session.scalar(select(Team.lead_id).where(Team.id == team_id))


# Teams -------------------------------------------------------------------------------------------

def member_specs(raw: list[dict[str, Any]], current: Sequence[TeamMember] = ()) -> list[MemberSpec]:
    """Validated member dicts -> specs; a member left without `available` keeps its current state."""
    known = {m.user_id: m for m in current}
    specs = []
    for item in raw:
        old = known.get(item["user_id"])
        specs.append(MemberSpec(
            user_id=item["user_id"],
            capacity=item["capacity"] if "capacity" in item else (old.capacity if old else None),
            available=item["available"] if "available" in item else (old.available if old else True)))
    return specs


class TeamService(RecordService[Team]):
    model = Team
    aggregate = "team"

    def __init__(self, desk: Desk) -> None:
        super().__init__(desk.outbox, TeamSchema().dump)
        self.desk = desk

    def body(self, session: Session, record: Team) -> dict[str, Any]:
        # Not cached per version: handing tickets on after an update changes the members' open
        # counts without a new team version, and the answer should show them.
        return self.serialize(record)

    def before_create(self, session: Session, values: dict[str, Any]) -> None:
        values.pop("reassign", None)
        values["member_plan"] = member_specs(values.pop("members", []))

    def before_update(self, session: Session, record: Team, values: dict[str, Any]) -> None:
        session.info[_REASSIGN] = values.pop("reassign", None) or "open"
        if "members" in values:
            values["member_plan"] = member_specs(values.pop("members"), record.members)

    def after_update(self, session: Session, record: Team, changes: dict[str, list[Any]]) -> None:
        which = session.info.pop(_REASSIGN, "open")
        if "members" not in changes and "assignment_mode" not in changes:
            return
        before = {m["user_id"]: m for m in (changes.get("members") or [[], []])[0]}
        after = {m["user_id"]: m for m in (changes.get("members") or [[], []])[1]}
        for user in after.keys() - before.keys():
            # Tickets of the team they already hold count (before anyone is handed tickets).
            routing_assign.recount(session, record.id, uuid.UUID(user))
        for user, old in before.items():
            new = after.get(user)
            if old["available"] and (new is None or not new["available"]):
                routing_assign.hand_on(session, self.desk, record, uuid.UUID(user), which)
        # Room may have appeared (a member back, added, given more capacity; a team now routing).
        routing_assign.drain(session, self.desk, record)

    def before_delete(self, session: Session, record: Team) -> None:
        rules = session.scalars(select(RoutingRule.id).where(RoutingRule.team_id == record.id)).all()
        if rules:
            raise Conflict(f"Routing rules send tickets to this team: {', '.join(map(str, rules))}.",
                           errors={"id": ["The team is used by routing rules."]}, rules=[str(r) for r in rules])

    def set_member(self, session: Session, team_id: uuid.UUID, user_id: uuid.UUID, values: dict[str, Any] | None,
                   *, create: bool = False, reassign: str = "open", expected_version: int | None = None) -> Team:
        """Add (create), change or (values None) remove one member: an edit of the member list."""
        team = self.get(session, team_id, for_update=True)
        current = [{"user_id": m.user_id, "capacity": m.capacity, "available": m.available} for m in team.members]
        present = any(m["user_id"] == user_id for m in current)
        if create and present:
            raise Conflict(f"User {user_id} is already a member of this team.", errors={"user_id": ["Already a member."]})
        if not create and not present:
            raise NotFound(f"User {user_id} is not a member of team {team_id}.")
        if create:
            members = [*current, {"user_id": user_id, **(values or {})}]
        elif values is None:
            members = [m for m in current if m["user_id"] != user_id]
        else:
            members = [{**m, **values} if m["user_id"] == user_id else m for m in current]
        return self.update(session, team_id, {"members": members, "reassign": reassign}, expected_version)

    def set_availability(self, session: Session, user_id: uuid.UUID, available: bool, reassign: str = "open") -> list[Team]:
        """An agent away (or back) in every team they belong to."""
        teams = session.scalars(select(TeamMember.team_id).where(TeamMember.user_id == user_id)
                                .order_by(TeamMember.team_id)).all()
        if not teams:
            # the same answer for a user of another tenant as for no user at all
            raise NotFound(f"User {user_id} is in none of your teams.")
        return [self.set_member(session, team_id, user_id, {"available": available}, reassign=reassign)
                for team_id in teams]


# Routing rules -----------------------------------------------------------------------------------

class RuleService(RecordService[RoutingRule]):
    model = RoutingRule
    aggregate = "routing_rule"

    def __init__(self, desk: Desk) -> None:
        super().__init__(desk.outbox, RuleSchema().dump)

    def _check(self, session: Session, values: dict[str, Any]) -> None:
        try:
            conditions.check_condition(session, values.get("condition"))
        except ProblemError as exc:
            messages = [m for ms in (exc.errors or {}).values() for m in ms] or [str(exc.detail)]
            raise validation_error({"condition": messages}, detail=exc.detail or "Invalid condition.") from exc
        if "team_id" in values:
            require_team(session, values["team_id"])
        if "add_tags" in values:
            values["add_tags"] = list(dict.fromkeys(values["add_tags"] or []))

    def before_create(self, session: Session, values: dict[str, Any]) -> None:
        self._check(session, values)

    def before_update(self, session: Session, record: RoutingRule, values: dict[str, Any]) -> None:
        self._check(session, values)
        after = {"team_id": record.team_id, "set_priority": record.set_priority, "add_tags": record.add_tags, **values}
        if not (after["team_id"] or after["set_priority"] or after["add_tags"]):
            raise validation_error({"team_id": ["Give at least one of: team_id, set_priority, add_tags."]})


# Hooks -------------------------------------------------------------------------------------------

class Router:
    """The routing area's ticket hooks (installed on the desk)."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    def apply_rules(self, session: Session, ticket: Ticket) -> None:
        rules = session.scalars(select(RoutingRule).where(RoutingRule.enabled.is_(True))
                                .order_by(RoutingRule.position, RoutingRule.created_at, RoutingRule.id)).all()
        if not rules:
            return
        found = conditions.first_match(session, ticket.id, [(r.id, r.condition) for r in rules])
        rule = next((r for r in rules if r.id == found), None)
        if rule is None:
            return
        if rule.team_id is not None:
            ticket.team_id = rule.team_id
        if rule.set_priority:
            ticket.priority = rule.set_priority
        if rule.add_tags:
            ticket.tags = list(dict.fromkeys([*(ticket.tags or []), *rule.add_tags]))

    def on_created(self, session: Session, ticket: Ticket) -> None:
        # A ticket created with a team or an assignee was routed by hand: no rule overrides that.
        if ticket.team_id is None and ticket.assignee_id is None:
            self.apply_rules(session, ticket)
        team = require_team(session, ticket.team_id)
        if team is not None and ticket.status not in DONE_STATUSES:
            if ticket.assignee_id is not None:
                routing_assign.count(session, team.id, ticket.assignee_id, +1, assigned=True)
            elif (row := routing_assign.pick(session, team)) is not None:
                ticket.assignee_id = row.user_id
                routing_assign.take(row)
        if ticket.assignee_id is not None:
            self.notify_assigned(session, ticket)
        session.flush()  # what SLA policies (next hook) match on is read from the row

    def on_changed(self, session: Session, ticket: Ticket, changes: dict[str, list[Any]]) -> None:
        if not changes.keys() & {"team_id", "assignee_id", "status"}:
            return

        def before(name: str, now: Any) -> Any:
            return changes[name][0] if name in changes else now

        team_b, team_a = _uuid(before("team_id", ticket.team_id)), ticket.team_id
        user_b, user_a = _uuid(before("assignee_id", ticket.assignee_id)), ticket.assignee_id
        open_b, open_a = before("status", ticket.status) not in DONE_STATUSES, ticket.status not in DONE_STATUSES
        team = require_team(session, team_a) if "team_id" in changes else None
        slot_b = (team_b, user_b) if open_b and team_b and user_b else None
        slot_a = (team_a, user_a) if open_a and team_a and user_a else None
        freed = None
        if slot_b != slot_a:
            if slot_b is not None:
                freed = routing_assign.count(session, *slot_b, -1)
            if slot_a is not None:
                routing_assign.count(session, *slot_a, +1, assigned=bool(changes.keys() & {"team_id", "assignee_id"}))
        if "assignee_id" in changes and user_a is not None:
            self.notify_assigned(session, ticket)
        if team is not None and user_a is None and open_a:
            # Moved to a team without an assignee: the new team's mode assigns it.
            if (row := routing_assign.pick(session, team)) is not None:
                routing_assign.reassign(session, self.desk, ticket.id, row.user_id)
        if freed is not None and freed.has_room():
            # A slot freed up: the team's oldest waiting ticket (not this one) takes it.
            freed_team = routing_assign.get_team(session, freed.team_id)
            if freed_team is not None:
                routing_assign.drain(session, self.desk, freed_team, limit=1, exclude=ticket.id)

    def on_sla_warning(self, session: Session, ticket: Ticket, target: str) -> None:
        team = routing_assign.get_team(session, ticket.team_id)
        if team is None or not team.escalate_on_sla_warning or team.lead_id is None:
            return
        request_notifications(
            session, self.desk.outbox, [team.lead_id], kind="ticket_escalated",
            title=f"SLA warning on ticket #{ticket.number}: {ticket.subject}"[:300], subject_type="ticket",
            subject_id=ticket.id, body=f"The {target.replace('_', ' ')} target is about to be missed.",
            data={"target": target, "team_id": str(team.id), "number": ticket.number,
                  "reassigned": team.sla_escalation == "reassign"})
        if team.sla_escalation == "reassign" and ticket.assignee_id != team.lead_id and ticket.status not in DONE_STATUSES:
            # The lead was just told why; the assignment notification would say it twice.
            session.info.setdefault(_QUIET, set()).add(ticket.id)
            routing_assign.reassign(session, self.desk, ticket.id, team.lead_id)

    def notify_assigned(self, session: Session, ticket: Ticket) -> None:
        quiet: set[uuid.UUID] = session.info.get(_QUIET, set())
        if ticket.id in quiet:
            quiet.discard(ticket.id)
            return
        # Someone who assigns themselves needs no notice (request_notifications leaves the actor out).
        request_notifications(
            session, self.desk.outbox, [ticket.assignee_id], kind="ticket_assigned",
            title=f"Ticket #{ticket.number} assigned to you: {ticket.subject}"[:300], subject_type="ticket",
            subject_id=ticket.id, actor_id=_actor(),
            data={"number": ticket.number, "team_id": str(ticket.team_id) if ticket.team_id else None})


def install(desk: Desk) -> None:
    """Registers the area's ticket hooks (desk.hooks)."""
    router = Router(desk)
    desk.hooks.created.append(router.on_created)
    desk.hooks.changed.append(router.on_changed)
    desk.hooks.sla_warning.append(router.on_sla_warning)


def deleted_handlers() -> dict[str, Handler]:
    def ticket_deleted(session: Session, event: Event) -> None:
        # No hook sees a deletion: the open count of the member who held it is recomputed here.
        team_id, user_id = _uuid(event.data.get("team_id")), _uuid(event.data.get("assignee_id"))
        if team_id is not None and user_id is not None:
            routing_assign.recount(session, team_id, user_id)

    return {"crm.ticket.deleted": ticket_deleted}


def consumers(settings: Settings, db: Database) -> list[ConsumerSpec]:
    """The area's event consumers (run by the worker)."""
    return [ConsumerSpec(CONSUMER_GROUP, [TICKET_TOPIC], deleted_handlers())]


def background(settings: Settings, db: Database) -> list[BackgroundLoop]:
    """The area's background loops (run by the worker)."""
    return []
