"""Tables of the routing area (see tickets/service/routing.py): teams with their members, and the
routing rules that send a new ticket to a team."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    inspect,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_db.base import JsonType, TenantScoped, utcnow
from tickets.models.base import Base

# manual: routing only sets the team; round_robin: the member longest without an assignment;
# least_open: the member with the fewest open tickets (then the longest without an assignment).
ASSIGNMENT_MODES = ("manual", "round_robin", "least_open")
# What an SLA warning does when the team escalates: notify the lead, or notify and hand it over.
SLA_ESCALATIONS = ("notify", "reassign")


@dataclass(frozen=True)
class MemberSpec:
    """One member of a validated member list (user_id is the key: one row per user and team)."""

    user_id: uuid.UUID
    capacity: int | None = None  # max open tickets in this team; None: unlimited
    available: bool = True


class Team(TenantScoped, Base):
    __tablename__ = "teams"
    __table_args__ = (
        Index("teams_tenant_created_idx", "tenant_id", "created_at", "id"),
        Index("teams_tenant_name_idx", "tenant_id", "name", "id"),
        CheckConstraint("assignment_mode in ('manual', 'round_robin', 'least_open')", name="teams_assignment_mode_check"),
        CheckConstraint("sla_escalation in ('notify', 'reassign')", name="teams_sla_escalation_check"),
    )

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    lead_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())  # a user id (gateway): no foreign key
    assignment_mode: Mapped[str] = mapped_column(String(20), nullable=False, default="manual")
    escalate_on_sla_warning: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    sla_escalation: Mapped[str] = mapped_column(String(20), nullable=False, default="notify")
    members: Mapped[list[TeamMember]] = relationship(
        order_by="TeamMember.position", cascade="all, delete-orphan", passive_deletes=True, lazy="selectin")

    def _set_member_plan(self, specs: list[MemberSpec]) -> None:
        """Replace the member list: users already in it keep their row (open count, last
        assignment), new ones get one, the rest are removed. A setter so that RecordService's
        setattr (after its before-snapshot) puts `members` into the update's changes."""
        current = {m.user_id: m for m in self.members}
        before = [(m.user_id, m.capacity, m.available, m.position) for m in self.members]
        rows = []
        for position, spec in enumerate(specs):
            row = current.get(spec.user_id) or TeamMember(user_id=spec.user_id, open_count=0)
            row.capacity, row.available, row.position = spec.capacity, spec.available, position
            rows.append(row)
        self.members = rows
        if inspect(self).persistent and [(m.user_id, m.capacity, m.available, m.position) for m in rows] != before:
            # Members are part of the team's representation: bump its version (ETag, If-Match).
            self.updated_at = utcnow()

    member_plan = property(fset=_set_member_plan)


class TeamMember(TenantScoped, Base):
    """An agent in a team. open_count is the number of the team's open (not resolved or closed)
    tickets assigned to them, kept by the routing hooks; assignment locks these rows."""

    __tablename__ = "team_members"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "team_id"], ["teams.tenant_id", "teams.id"], ondelete="CASCADE",
                             name="team_members_team_fkey"),
        Index("team_members_tenant_team_user_key", "tenant_id", "team_id", "user_id", unique=True),
        Index("team_members_tenant_user_idx", "tenant_id", "user_id"),
        CheckConstraint("capacity is null or capacity >= 0", name="team_members_capacity_check"),
    )

    team_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    capacity: Mapped[int | None] = mapped_column(Integer)
    available: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    open_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_assigned_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    def has_room(self) -> bool:
        return self.available and (self.capacity is None or self.open_count < self.capacity)


class RoutingRule(TenantScoped, Base):
    """A condition on a new ticket -> its team, priority and tags; the first match by position wins."""

    __tablename__ = "routing_rules"
    __table_args__ = (
        # No cascade: a team that rules route to cannot be deleted (the service answers 409).
        ForeignKeyConstraint(["tenant_id", "team_id"], ["teams.tenant_id", "teams.id"], name="routing_rules_team_fkey"),
        Index("routing_rules_tenant_position_idx", "tenant_id", "position", "id"),
        Index("routing_rules_tenant_team_idx", "tenant_id", "team_id"),
    )

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    condition: Mapped[str | None] = mapped_column(Text)  # the filter language; empty: every ticket
    team_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    set_priority: Mapped[str | None] = mapped_column(String(20))
    add_tags: Mapped[list[str]] = mapped_column(JsonType, nullable=False, default=list)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
