"""API keys: `crm_<prefix>_<secret>`, shown once, stored as a hash, revoked at once."""

from __future__ import annotations

import hmac
import secrets
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core import context
from crm_core.context import Principal
from crm_core.errors import NotFound
from crm_core.ids import secret_hash
from crm_db.base import utcnow
from crm_events.outbox import Outbox
from gateway.models import ApiKey
from gateway.service import require_admin
from gateway.tokens import new_secret

KEY_PREFIX = "crm_"


class InvalidApiKey(Exception):
    pass


def looks_like_api_key(credential: str) -> bool:
    return credential.startswith(KEY_PREFIX) and credential.count("_") >= 2


class ApiKeys:
    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def create(self, session: Session, data: dict[str, Any]) -> tuple[ApiKey, str]:
        principal = require_admin(session)
        prefix = secrets.token_hex(6)
        secret = new_secret()
        key = ApiKey(tenant_id=principal.tenant_id, name=data["name"], prefix=prefix, key_hash=secret_hash(secret),
                     scopes=sorted(set(data["scopes"])), created_by=principal.user_id)
        session.add(key)
        session.flush()
        self.outbox.emit(session, "crm.api_key.created", key.id, _event(key))
        return key, f"{KEY_PREFIX}{prefix}_{secret}"

    def list(self, session: Session) -> list[ApiKey]:
        require_admin(session)
        tenant = context.require_tenant()
        return list(session.scalars(select(ApiKey).where(ApiKey.tenant_id == tenant).order_by(ApiKey.id)))

    def revoke(self, session: Session, key_id: uuid.UUID) -> None:
        require_admin(session)
        key = session.scalars(
            select(ApiKey).where(ApiKey.id == key_id, ApiKey.tenant_id == context.require_tenant())
        ).first()
        if key is None:
            raise NotFound(f"No API key with id {key_id}.")
        if key.revoked_at is None:
            key.revoked_at = utcnow()
            self.outbox.emit(session, "crm.api_key.revoked", key.id, _event(key))

    @staticmethod
    def authenticate(session: Session, credential: str) -> Principal:
        """Checked against the database on every request: a revocation applies to the very next call."""
        try:
            _, prefix, secret = credential.split("_", 2)
        except ValueError:
            raise InvalidApiKey("malformed") from None
        key = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()
        if key is None or key.revoked_at is not None or not hmac.compare_digest(key.key_hash, secret_hash(secret)):
            raise InvalidApiKey("unknown or revoked")
        return Principal(tenant_id=key.tenant_id, user_id=None, roles=("api_key",), scopes=tuple(key.scopes),
                         api_key_id=key.id)


def _event(key: ApiKey) -> dict[str, Any]:
    return {"id": key.id, "name": key.name, "prefix": key.prefix, "scopes": key.scopes, "revoked_at": key.revoked_at}
