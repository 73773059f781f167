"""Access tokens (short-lived JWTs) and opaque refresh tokens."""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass

import jwt

from crm_core.context import Principal
from crm_core.scopes import scopes_for_role

ISSUER = "crm"
AUDIENCE = "crm-api"
ALGORITHMS = ["HS256"]  # fixed list: a token cannot choose its own algorithm


class InvalidAccessToken(Exception):
    pass


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


@dataclass(frozen=True)
class AccessTokens:
    secret: str
    ttl_seconds: int = 900

    def issue(self, user_id: uuid.UUID, tenant_id: uuid.UUID, role: str) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": str(user_id), "tid": str(tenant_id), "role": role,
                  "iat": now, "exp": now + self.ttl_seconds, "jti": uuid.uuid4().hex}
        return jwt.encode(claims, self.secret, algorithm="HS256")

    def verify(self, token: str) -> Principal:
        return self.verify_until(token)[0]

    def verify_until(self, token: str) -> tuple[Principal, float]:
        """The principal and the token's expiry (epoch seconds)."""
        try:
            claims = jwt.decode(token, self.secret, algorithms=ALGORITHMS, audience=AUDIENCE, issuer=ISSUER,
                                options={"require": ["exp", "iat", "sub", "tid", "role"]})
            role = claims["role"]
            return (Principal(tenant_id=uuid.UUID(claims["tid"]), user_id=uuid.UUID(claims["sub"]),
                              roles=(role,), scopes=scopes_for_role(role)), float(claims["exp"]))
        except (jwt.PyJWTError, ValueError, KeyError) as exc:
            raise InvalidAccessToken(str(exc)) from exc
