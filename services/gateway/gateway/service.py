"""Account use cases: signup, login, refresh rotation, users and invitations."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crm_core import context
from crm_core.errors import Conflict, Forbidden, NotFound, Unauthorized
from crm_core.metrics import metrics
from crm_core.scopes import ADMIN_ROLES
from crm_db.base import utcnow
from crm_events.outbox import Outbox
from gateway.models import RefreshToken, Tenant, User
from gateway.tokens import AccessTokens, new_secret, token_hash

REFRESH_TTL = dt.timedelta(days=30)
INVITATION_TTL = dt.timedelta(days=7)
# Verified against when the email is unknown, so a login takes as long for a missing user.
_DUMMY_HASH = PasswordHasher().hash("not-a-real-password")


@dataclass
class Accounts:
    outbox: Outbox
    access: AccessTokens
    hasher: PasswordHasher

    def _tokens(self, session: Session, user: User, family: uuid.UUID | None = None) -> dict[str, Any]:
        refresh = new_secret()
        session.add(RefreshToken(token_hash=token_hash(refresh), family_id=family or uuid.uuid4(), user_id=user.id,
                                 tenant_id=user.tenant_id, expires_at=utcnow() + REFRESH_TTL))
        return {"access_token": self.access.issue(user.id, user.tenant_id, user.role), "refresh_token": refresh,
                "token_type": "Bearer", "expires_in": self.access.ttl_seconds}

    def _email_free(self, session: Session, email: str) -> None:
        existing = session.scalars(select(User.id).where(User.email == email)).first()
        if existing is not None:
            # Not naming the record: it may belong to another tenant.
            raise Conflict("This email is already registered.", errors={"email": ["Already registered."]})

    def signup(self, session: Session, data: dict[str, Any]) -> dict[str, Any]:
        self._email_free(session, data["email"])
        tenant = Tenant(name=data["company"])
        session.add(tenant)
        session.flush()
        user = User(tenant_id=tenant.id, email=data["email"], name=data.get("name"), role="owner",
                    password_hash=self.hasher.hash(data["password"]))
        session.add(user)
        session.flush()
        with context.tenant_context(tenant.id):
            self.outbox.emit(session, "crm.tenant.created", tenant.id, {"id": tenant.id, "name": tenant.name})
            self.outbox.emit(session, "crm.user.created", user.id, _user_event(user))
        metrics().signups.inc()
        return {"tenant": tenant, "user": user, **self._tokens(session, user)}

    def login(self, session: Session, email: str, password: str) -> dict[str, Any]:
        user = session.scalars(select(User).where(User.email == email)).first()
        try:
            self.hasher.verify(user.password_hash if user and user.password_hash else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            raise Unauthorized("Wrong email or password.") from None
        if user is None or user.password_hash is None:
            raise Unauthorized("Wrong email or password.")
        if self.hasher.check_needs_rehash(user.password_hash):
            user.password_hash = self.hasher.hash(password)
        return self._tokens(session, user)

    def refresh(self, session: Session, refresh_token: str) -> dict[str, Any] | None:
        """New tokens, or None when a rotated token was replayed: the caller must commit the
        family's revocation and then answer 401."""
        row = session.scalars(
            select(RefreshToken).where(RefreshToken.token_hash == token_hash(refresh_token)).with_for_update()
        ).first()
        now = utcnow()
        if row is None or row.revoked_at is not None or _aware(row.expires_at) <= now:
            raise Unauthorized("The refresh token is invalid or expired.")
        if row.used_at is not None:
            # Reuse of a rotated token means it leaked: end the whole login, for the thief and the user.
            session.execute(update(RefreshToken).where(RefreshToken.family_id == row.family_id).values(revoked_at=now))
            return None
        row.used_at = now
        user = session.get(User, row.user_id)
        if user is None:
            raise Unauthorized("The user no longer exists.")
        return self._tokens(session, user, family=row.family_id)

    def create_user(self, session: Session, data: dict[str, Any]) -> tuple[User, str | None]:
        principal = require_admin()
        if data["role"] == "owner" and "owner" not in principal.roles:
            raise Forbidden("Only an owner can add another owner.")
        self._email_free(session, data["email"])
        invitation = None
        user = User(tenant_id=principal.tenant_id, email=data["email"], name=data.get("name"), role=data["role"])
        if data.get("password"):
            user.password_hash = self.hasher.hash(data["password"])
        else:
            invitation = new_secret()
            user.invitation_hash = token_hash(invitation)
            user.invitation_expires_at = utcnow() + INVITATION_TTL
        session.add(user)
        session.flush()
        self.outbox.emit(session, "crm.user.created", user.id, _user_event(user))
        return user, invitation

    def accept_invitation(self, session: Session, invitation: str, password: str) -> dict[str, Any]:
        user = session.scalars(select(User).where(User.invitation_hash == token_hash(invitation))).first()
        if user is None or user.invitation_expires_at is None or _aware(user.invitation_expires_at) <= utcnow():
            raise Unauthorized("The invitation is invalid or expired.")
        user.password_hash = self.hasher.hash(password)
        user.invitation_hash = None
        user.invitation_expires_at = None
        return self._tokens(session, user)

    def list_users(self, session: Session) -> list[User]:
        tenant = context.require_tenant()
        return list(session.scalars(select(User).where(User.tenant_id == tenant).order_by(User.id)))

    def me(self, session: Session) -> dict[str, Any]:
        principal = context.current_principal()
        assert principal is not None
        tenant = session.get(Tenant, principal.tenant_id)
        if tenant is None:
            raise NotFound("The tenant no longer exists.")
        user = session.get(User, principal.user_id) if principal.user_id else None
        return {"user": user, "tenant": tenant, "roles": list(principal.roles), "scopes": list(principal.scopes),
                "api_key_id": principal.api_key_id}


def require_admin() -> context.Principal:
    principal = context.current_principal()
    if principal is None or principal.user_id is None:
        raise Forbidden("Only a signed-in user can manage users and keys.")
    if not ADMIN_ROLES.intersection(principal.roles):
        raise Forbidden("Only owners and admins can do this.")
    return principal


def _user_event(user: User) -> dict[str, Any]:
    return {"id": user.id, "tenant_id": user.tenant_id, "email": user.email, "name": user.name, "role": user.role}


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
