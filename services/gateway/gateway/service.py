"""Account use cases: signup, login, refresh rotation, users and invitations."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crm_core import context
from crm_core.errors import Conflict, Forbidden, NotFound, Unauthorized
from crm_core.ids import secret_hash
from crm_core.metrics import metrics
from crm_core.scopes import ADMIN_ROLES
from crm_core.timezones import DEFAULT_TIME_ZONE
from crm_db.base import utcnow
from crm_events.outbox import Outbox
from crm_http.auth import require_admin_access
from gateway.models import RefreshToken, Tenant, User
from gateway.tokens import AccessTokens, new_secret
from gateway.verification import EmailLinks, UnverifiedAccount, is_verified
from gateway.verification import aware as _aware

REFRESH_TTL = dt.timedelta(days=30)
DEFAULT_COOKIE_REUSE_GRACE = dt.timedelta(seconds=30)
DEFAULT_REFRESH_MAX_AGE = dt.timedelta(days=30)  # CRM_REFRESH_TOKEN_MAX_AGE: one login's absolute lifetime
MAX_ACCOUNTS_PER_LOGIN = 20  # accounts one email+password is checked against (one per tenant)
INVITATION_TTL = dt.timedelta(days=7)
# Verified against when the email is unknown, so a login takes as long for a missing user.
_DUMMY_HASH = PasswordHasher().hash("not-a-real-password")


@dataclass
class Accounts:
    outbox: Outbox
    access: AccessTokens
    hasher: PasswordHasher
    refresh_max_age: dt.timedelta = DEFAULT_REFRESH_MAX_AGE
    # CRM_REFRESH_COOKIE_REUSE_SECONDS: how long a rotated refresh token sent as the console's
    # HttpOnly cookie still rotates again instead of counting as leaked (see refresh()).
    cookie_reuse_grace: dt.timedelta = DEFAULT_COOKIE_REUSE_GRACE
    links: EmailLinks | None = None  # verification and invitation emails; default: links to 127.0.0.1

    def __post_init__(self) -> None:
        self.mail = self.links or EmailLinks(self.outbox)

    def _tokens(self, session: Session, user: User, family: RefreshToken | None = None) -> dict[str, Any]:
        """A new access token and the next refresh token of `family` (a new login when None).
        A family never outlives started + refresh_max_age, however often it rotates."""
        refresh, now = new_secret(), utcnow()
        if family is None:
            family_id, started, hard_end = uuid.uuid4(), now, now + self.refresh_max_age
        elif family.family_started_at is not None:
            family_id, started = family.family_id, _aware(family.family_started_at)
            hard_end = started + self.refresh_max_age
        else:  # a token from before family starts were recorded: its own expiry is the bound
            family_id, started, hard_end = family.family_id, None, _aware(family.expires_at)
        session.add(RefreshToken(token_hash=secret_hash(refresh), family_id=family_id, user_id=user.id,
                                 tenant_id=user.tenant_id, family_started_at=started,
                                 expires_at=min(now + REFRESH_TTL, hard_end)))
        return {"access_token": self.access.issue(user.id, user.tenant_id, user.role), "refresh_token": refresh,
                "token_type": "Bearer", "expires_in": self.access.ttl_seconds}

    def _email_free_in_tenant(self, session: Session, tenant_id: uuid.UUID, email: str) -> None:
        """Only the caller's own tenant is looked at: other tenants' users never show (enumeration)."""
        existing = session.scalars(select(User.id).where(User.tenant_id == tenant_id, User.email == email)).first()
        if existing is not None:
            raise Conflict(f"This tenant already has a user with this email: {existing}.",
                           errors={"email": ["Already a user of this tenant."]}, existing_id=str(existing))

    def signup(self, session: Session, data: dict[str, Any]) -> dict[str, Any]:
        # Always a new tenant: an address already used in another tenant is no conflict (and no clue).
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
        # Unverified until the link is opened; the address's owner can still sign up (another
        # tenant) or be invited meanwhile: nothing here makes the address taken.
        self.mail.send_verification(session, user, tenant.name)
        metrics().signups.inc()
        return {"tenant": tenant, "user": user, **self._tokens(session, user)}

    def login(self, session: Session, email: str, password: str, tenant_id: uuid.UUID | None = None) -> dict[str, Any]:
        """One email may have an account in several tenants: the password picks the account (the
        oldest matching one unless `tenant_id` names the tenant). Deactivated users, unknown emails
        and wrong passwords all answer the same 401, after at least one hash verification."""
        query = select(User).where(User.email == email, User.password_hash.is_not(None), User.deactivated_at.is_(None))
        if tenant_id is not None:
            query = query.where(User.tenant_id == tenant_id)
        # Verified accounts first: when one password opens both, the address's proven owner wins.
        order = (User.email_verified_at.is_(None), User.created_at, User.id)
        candidates = list(session.scalars(query.order_by(*order).limit(MAX_ACCOUNTS_PER_LOGIN)))
        stale: UnverifiedAccount | None = None
        for user in candidates:
            if self._password_ok(user.password_hash or _DUMMY_HASH, password):
                try:
                    self.mail.check_login(user)
                except UnverifiedAccount as exc:  # another account the password opens may still do
                    stale = stale or exc
                    continue
                if self.hasher.check_needs_rehash(user.password_hash or ""):
                    user.password_hash = self.hasher.hash(password)
                return self._tokens(session, user)
        if stale is not None:
            raise stale
        if not candidates:
            self._password_ok(_DUMMY_HASH, password)  # as slow as a wrong password
        raise Unauthorized("Wrong email or password.")

    def _password_ok(self, hashed: str, password: str) -> bool:
        try:
            return self.hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    def logout(self, session: Session, refresh_token: str) -> None:
        """Ends the login the refresh token belongs to: every token of its family is revoked."""
        row = session.scalars(select(RefreshToken).where(RefreshToken.token_hash == secret_hash(refresh_token))).first()
        if row is not None:
            session.execute(update(RefreshToken).where(RefreshToken.family_id == row.family_id,
                                                       RefreshToken.revoked_at.is_(None)).values(revoked_at=utcnow()))

    def refresh(self, session: Session, refresh_token: str, from_cookie: bool = False) -> dict[str, Any] | None:
        """New tokens, or None when a rotated token was replayed: the caller must commit the
        family's revocation and then answer 401.

        A token from the console's cookie that was rotated moments ago (`cookie_reuse_grace`)
        rotates again within its login: two tabs refreshing at once, or a reload that lost the
        answer carrying the new cookie, are the normal case there, and no script can read that
        cookie to leak it. A token sent in a body gets no grace."""
        row = session.scalars(
            select(RefreshToken).where(RefreshToken.token_hash == secret_hash(refresh_token)).with_for_update()
        ).first()
        now = utcnow()
        if row is None or row.revoked_at is not None or _aware(row.expires_at) <= now:
            raise Unauthorized("The refresh token is invalid or expired.")
        if row.used_at is not None and not (from_cookie and now - _aware(row.used_at) <= self.cookie_reuse_grace):
            # Reuse of a rotated token means it leaked: end the whole login, for the thief and the user.
            session.execute(update(RefreshToken).where(RefreshToken.family_id == row.family_id).values(revoked_at=now))
            return None
        row.used_at = row.used_at or now
        user = session.get(User, row.user_id)
        if user is None or user.deactivated_at is not None:
            raise Unauthorized("The refresh token is invalid or expired.")
        self.mail.check_login(user)  # refreshing never outlasts the unverified grace period
        return self._tokens(session, user, family=row)

    def create_user(self, session: Session, data: dict[str, Any]) -> tuple[User, str | None]:
        principal = require_admin(session)
        if data["role"] == "owner" and "owner" not in principal.roles:
            raise Forbidden("Only an owner can add another owner.")
        self._email_free_in_tenant(session, principal.tenant_id, data["email"])
        invitation = None
        user = User(tenant_id=principal.tenant_id, email=data["email"], name=data.get("name"), role=data["role"],
                    time_zone=data.get("time_zone") or DEFAULT_TIME_ZONE)
        if data.get("password"):
            user.password_hash = self.hasher.hash(data["password"])
        else:
            invitation = new_secret()
            user.invitation_hash = secret_hash(invitation)
            user.invitation_expires_at = utcnow() + INVITATION_TTL
        session.add(user)
        session.flush()
        self.outbox.emit(session, "crm.user.created", user.id, _user_event(user))
        tenant = session.get(Tenant, principal.tenant_id)
        assert tenant is not None
        if invitation is not None and user.invitation_expires_at is not None:
            self.mail.send_invitation(session, user, tenant, invitation, user.invitation_expires_at)
        else:  # a password set by an admin proves nothing about the address
            self.mail.send_verification(session, user, tenant.name)
        return user, invitation

    def accept_invitation(self, session: Session, invitation: str, password: str) -> dict[str, Any]:
        user = session.scalars(select(User).where(User.invitation_hash == secret_hash(invitation))).first()
        if (user is None or user.invitation_expires_at is None or _aware(user.invitation_expires_at) <= utcnow()
                or user.deactivated_at is not None):
            raise Unauthorized("The invitation is invalid or expired.")
        user.password_hash = self.hasher.hash(password)
        user.invitation_hash = None
        user.invitation_expires_at = None
        if not is_verified(user):  # the token came by email to this address: that proves it
            user.email_verified_at = utcnow()
            self.outbox.emit(session, "crm.user.updated", user.id, _user_event(user), tenant_id=user.tenant_id)
        return self._tokens(session, user)

    def verify_email(self, session: Session, token: str, *, confirm: bool = True) -> User:
        user, changed = self.mail.verify(session, token, confirm=confirm)
        if changed:
            self.outbox.emit(session, "crm.user.updated", user.id, _user_event(user), tenant_id=user.tenant_id)
        return user

    def resend_verification(self, session: Session, user_id: uuid.UUID | None) -> User:
        return self.mail.resend(session, user_id)

    def list_users(self, session: Session) -> list[User]:
        require_admin(session)
        tenant = context.require_tenant()
        return list(session.scalars(select(User).where(User.tenant_id == tenant).order_by(User.id)))

    def directory(self, session: Session) -> list[User]:
        """The tenant's active users, for any signed-in user (whom to assign or mention); an API
        key needs the admin scope, as for the full list."""
        principal = context.current_principal()
        if principal is None or principal.user_id is None:
            require_admin_access()
        elif (me := session.get(User, principal.user_id)) is None or me.deactivated_at is not None:
            raise Forbidden("Only active users see the directory.")
        tenant = context.require_tenant()
        return list(session.scalars(select(User).where(User.tenant_id == tenant, User.deactivated_at.is_(None))
                                    .order_by(func.lower(func.coalesce(User.name, User.email)), User.id)))

    def update_user(self, session: Session, user_id: uuid.UUID, data: dict[str, Any]) -> User:
        """Role change and (de)activation. Only owners touch owners; the tenant keeps one active owner."""
        principal = require_admin(session)
        user = session.scalars(select(User).where(User.id == user_id, User.tenant_id == principal.tenant_id)
                               .with_for_update()).first()
        if user is None:
            raise NotFound(f"No user with id {user_id}.")
        new_role = data.get("role", user.role)
        active = data.get("active", user.deactivated_at is None)
        if "owner" in (user.role, new_role) and "owner" not in principal.roles and (
                new_role != user.role or active != (user.deactivated_at is None)):
            raise Forbidden("Only an owner can change an owner, or make one.")
        if user.role == "owner" and user.deactivated_at is None and (new_role != "owner" or not active):
            # Locks the tenant's owners so two owners demoting each other at once can't both succeed.
            owners = session.scalars(select(User.id).where(
                User.tenant_id == principal.tenant_id, User.role == "owner", User.deactivated_at.is_(None)
            ).with_for_update()).all()
            if len(owners) <= 1:
                raise Conflict("The tenant's last active owner can't be demoted or deactivated.",
                               errors={"role" if new_role != "owner" else "active": ["Last active owner."]})
        changed = new_role != user.role or active != (user.deactivated_at is None) or (
            "name" in data and data["name"] != user.name) or ("time_zone" in data and data["time_zone"] != user.time_zone)
        user.role = new_role
        if "name" in data:
            user.name = data["name"]
        if "time_zone" in data:
            user.time_zone = data["time_zone"]
        if not active and user.deactivated_at is None:
            user.deactivated_at = utcnow()
            # Their logins end now; access tokens already issued lapse within the access TTL.
            session.execute(update(RefreshToken).where(RefreshToken.user_id == user.id,
                                                       RefreshToken.revoked_at.is_(None)).values(revoked_at=utcnow()))
        elif active:
            user.deactivated_at = None
        if changed:
            session.flush()
            self.outbox.emit(session, "crm.user.updated", user.id, _user_event(user))
        return user

    def update_me(self, session: Session, data: dict[str, Any]) -> dict[str, Any]:
        """The caller's own name and time zone (no admin needed; an API key has no profile)."""
        principal = context.current_principal()
        assert principal is not None
        if principal.user_id is None:
            raise Forbidden("Only a signed-in user has a profile (not an API key).")
        user = session.scalars(select(User).where(User.id == principal.user_id, User.tenant_id == principal.tenant_id)
                               .with_for_update()).first()
        if user is None:
            raise NotFound("The user no longer exists.")
        changed = False
        for name in ("name", "time_zone"):
            if name in data and data[name] != getattr(user, name):
                setattr(user, name, data[name])
                changed = True
        if changed:
            session.flush()
            self.outbox.emit(session, "crm.user.updated", user.id, _user_event(user))
        return self.me(session)

    def me(self, session: Session) -> dict[str, Any]:
        principal = context.current_principal()
        assert principal is not None
        tenant = session.get(Tenant, principal.tenant_id)
        if tenant is None:
            raise NotFound("The tenant no longer exists.")
        user = session.get(User, principal.user_id) if principal.user_id else None
        return {"user": user, "tenant": tenant, "roles": list(principal.roles), "scopes": list(principal.scopes),
                "api_key_id": principal.api_key_id}


def require_admin(session: Session | None = None) -> context.Principal:
    """Owners and admins (or an API key with the `admin` scope). With a session, the acting user is
    also looked up: a deactivated (or since demoted) user's still-valid access token manages nothing."""
    principal = context.current_principal()
    if principal is None:
        raise Forbidden("Only owners and admins can do this.")
    require_admin_access()
    if session is not None and principal.user_id is not None:
        user = session.get(User, principal.user_id)
        if user is None or user.deactivated_at is not None or user.role not in ADMIN_ROLES:
            raise Forbidden("Only active owners and admins can do this.")
    return principal


def _user_event(user: User) -> dict[str, Any]:
    return {"id": user.id, "tenant_id": user.tenant_id, "email": user.email, "name": user.name, "role": user.role,
            "email_verified": is_verified(user), "time_zone": user.time_zone or DEFAULT_TIME_ZONE,
            "active": user.deactivated_at is None}
