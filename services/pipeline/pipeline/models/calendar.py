"""Calendar tables: personal feed tokens and the meetings replica the feed serves.

`calendar_feeds` is a tenant table (RLS) with one row per user who has a feed. The feed URL is
opened without a credential, before any tenant is known, so `calendar_feed_tokens` (a platform
table, no RLS, like mail's mailboxes) maps the token's hash to its tenant and nothing else; the
feed row is then read under that tenant. Only hashes are stored (crm_core.ids.secret_hash).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, DateTime, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from crm_db.base import JsonType, TenantScoped, utcnow
from pipeline.models.base import Base


class CalendarFeed(TenantScoped, Base):
    """A user's personal calendar feed: at most one per user (POST again rotates its token)."""

    __tablename__ = "calendar_feeds"
    __table_args__ = (
        UniqueConstraint("tenant_id", "user_id", name="calendar_feeds_user_key"),
        UniqueConstraint("tenant_id", "token_hash", name="calendar_feeds_token_key"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    last_fetched_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class CalendarFeedToken(Base):
    """Token hash -> tenant, for the open feed URL (no RLS: read before the tenant is known)."""

    __tablename__ = "calendar_feed_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid(), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class Meeting(TenantScoped, Base):
    """A meeting on the contacts service's timelines (crm.activity.* of type meeting); id = the
    activity's id, which is also the UID of its invitations and of its feed entry."""

    __tablename__ = "meetings"
    __table_args__ = (Index("meetings_tenant_author_starts_idx", "tenant_id", "author_id", "starts_at"),)

    author_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())  # the organiser: a user
    deal_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    contact_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    title: Mapped[str | None] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    starts_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    ends_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    time_zone: Mapped[str | None] = mapped_column(String(64))
    location: Mapped[str | None] = mapped_column(String(500))
    attendees: Mapped[list[str]] = mapped_column(JsonType, default=list)  # e-mail addresses
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    sequence: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    # The activity's version: a late, older event changes nothing.
    activity_version: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
