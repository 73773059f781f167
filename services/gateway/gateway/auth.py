"""Who is calling: bearer credential -> principal, then rate limits. Runs before every non-public route."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Response, g, request

from crm_core import context
from crm_core.errors import TooManyRequests, Unauthorized
from crm_core.metrics import metrics
from crm_db.database import Database
from gateway.keys import ApiKeys, InvalidApiKey, looks_like_api_key
from gateway.ratelimit import Buckets, Limit, tightest
from gateway.tokens import AccessTokens, InvalidAccessToken

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="crm"'}


@dataclass(frozen=True)
class RateLimits:
    tenant: Limit
    api_key: Limit
    anonymous: Limit  # per client address, on signup and token endpoints


def _credential() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("Send `Authorization: Bearer <access token or API key>`.", headers=CHALLENGE)
    return value.strip()


def make_authenticate(db: Database, access: AccessTokens, buckets: Buckets, limits: RateLimits,
                      anonymous_paths: frozenset[str]) -> Callable[[], None]:
    def limit(checks: list[tuple[str, Limit, str]]) -> None:
        decision = tightest([buckets.take(key, lim) for key, lim, _ in checks])
        g.rate_limit = decision
        if not decision.allowed:
            metrics().rate_limit_rejections.labels(checks[0][2]).inc()
            raise TooManyRequests("Rate limit exceeded; slow down.", headers={"Retry-After": str(decision.retry_after)})

    def authenticate() -> None:
        if request.path in anonymous_paths:
            limit([(f"ip:{request.remote_addr}", limits.anonymous, "address")])
            return
        credential = _credential()
        try:
            if looks_like_api_key(credential):
                with db.transaction() as session:
                    principal = ApiKeys.authenticate(session, credential)
            else:
                principal = access.verify(credential)
        except (InvalidApiKey, InvalidAccessToken):
            raise Unauthorized("The credential is invalid, expired or revoked.", headers=CHALLENGE) from None
        context.set_principal(principal)
        checks = [(f"t:{principal.tenant_id}", limits.tenant, "tenant")]
        if principal.api_key_id:
            checks.append((f"k:{principal.api_key_id}", limits.api_key, "api_key"))
        limit(checks)

    return authenticate


def rate_limit_headers(resp: Response) -> Response:
    decision = g.get("rate_limit")
    if decision is not None:
        resp.headers["RateLimit-Limit"] = str(decision.limit)
        resp.headers["RateLimit-Remaining"] = str(decision.remaining)
        resp.headers["RateLimit-Reset"] = str(decision.reset)
    return resp
