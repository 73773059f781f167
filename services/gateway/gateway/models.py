"""Identity tables. These are the platform's, not a tenant's: login looks a user up by email and an
API key by its prefix before any tenant is known, so they are not under RLS; every query that
serves a tenant filters by the caller's tenant explicitly (tested in test_gateway_isolation)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, MetaData, String, UniqueConstraint, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crm_core.ids import uuid7
from crm_db.base import utcnow
from crm_events.tables import event_tables
from crm_http.idempotency import idempotency_table


class Base(DeclarativeBase):
    metadata = MetaData()


class Tenant(Base):
    __tablename__ = "tenants"
    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid7)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class User(Base):
    __tablename__ = "users"
    # An email is unique within a tenant, not across tenants: whether an address has an account
    # elsewhere must not show in any answer (signup, POST /v1/users), see README "Accounts".
    __table_args__ = (Index("users_tenant_idx", "tenant_id", "id"), Index("users_email_idx", "email"),
                      UniqueConstraint("tenant_id", "email", name="users_tenant_email_key"),
                      Index("users_email_verification_idx", "email_verification_hash", unique=True))
    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid7)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("tenants.id"))
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str | None] = mapped_column(String(200))  # None until an invitation is accepted
    invitation_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    invitation_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Set once the user opened a link sent to `email` (signup verification, an invitation);
    # migration 0005 counts users made before it as verified.
    email_verified_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # sha256 of the one pending verification token (a new one replaces it), and its expiry.
    email_verification_hash: Mapped[str | None] = mapped_column(String(64))
    email_verification_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Set: the user can't sign in, refresh or act (checked on every request, see gateway.auth).
    deactivated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # IANA name (crm_core.timezones): where the user's day starts, for agendas and reminders.
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"
    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid7)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid(), index=True)  # all rotations of one login
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("users.id"))
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # When the login (the family) started: rotation never extends past started + max age.
    family_started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (Index("api_keys_tenant_idx", "tenant_id", "id"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid7)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[Any]] = mapped_column(JSON)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ApiKeyEpoch(Base):
    """One row whose counter a trigger moves on every change to api_keys (migration 0004): a
    gateway process trusts its cached keys only while the counter it saw is still current."""

    __tablename__ = "api_key_epoch"
    id: Mapped[int] = mapped_column(primary_key=True)
    epoch: Mapped[int] = mapped_column(BigInteger)


def metadata() -> MetaData:
    event_tables(Base.metadata)
    idempotency_table(Base.metadata)
    return Base.metadata
