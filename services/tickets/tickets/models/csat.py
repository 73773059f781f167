"""Customer satisfaction: the survey mailed when a ticket is resolved, and the answers."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, DateTime, Index, Integer, SmallInteger, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from crm_db.base import TenantScoped
from tickets.models.base import Base


class CsatSurvey(TenantScoped, Base):
    """One per resolve: who resolved it (the assignee and team at that moment) and whether its
    SLA was met are taken then, not when the customer answers. Only the secret's hash is kept."""

    __tablename__ = "csat_surveys"
    __table_args__ = (
        Index("csat_surveys_tenant_token_key", "tenant_id", "token_hash", unique=True),
        Index("csat_surveys_tenant_ticket_idx", "tenant_id", "ticket_id"),
    )

    ticket_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    team_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    sla_met: Mapped[bool] = mapped_column(Boolean, nullable=False)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class CsatResponse(TenantScoped, Base):
    __tablename__ = "csat_responses"
    __table_args__ = (
        Index("csat_responses_tenant_created_idx", "tenant_id", "created_at", "id"),
        Index("csat_responses_tenant_agent_idx", "tenant_id", "agent_id", "created_at"),
        Index("csat_responses_tenant_team_idx", "tenant_id", "team_id", "created_at"),
        Index("csat_responses_tenant_survey_key", "tenant_id", "survey_id", unique=True),
    )

    survey_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False)
    ticket_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False)
    ticket_number: Mapped[int] = mapped_column(Integer, nullable=False)
    rating: Mapped[int] = mapped_column(SmallInteger, nullable=False)  # 1-5
    comment: Mapped[str | None] = mapped_column(Text)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    team_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    sla_met: Mapped[bool] = mapped_column(Boolean, nullable=False)
    requester_email: Mapped[str | None] = mapped_column(String(320))
