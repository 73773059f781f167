"""Who is calling: bearer credential -> principal, then rate limits. Runs before every non-public route.

Abuse controls, all on the token buckets (Redis, or in-process):
- the client address is the socket's peer, or taken from X-Forwarded-For only through the
  configured trusted proxies (CRM_TRUSTED_PROXIES);
- anonymous routes (signup, login, refresh, logout, invitations) are limited per client address;
- bad credentials (missing, malformed, unknown, expired: every 401) are counted per client
  address, and once that bucket is empty the caller gets 429 before any lookup is made; unknown
  API keys are also remembered briefly, so repeating one costs no query;
- failed logins are throttled per email (429 with Retry-After), whether or not the account exists;
- open paths (catalog open_prefixes: inbound-mail webhooks, verification links) take no
  credential at all and are limited per client address on a budget of their own.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from flask import Response, g, request

from crm_core import context
from crm_core.errors import TooManyRequests, Unauthorized
from crm_core.metrics import metrics
from crm_db.database import Database
from gateway.credentials import NegativeCache, UserStatus, VerifiedAccessTokens, VerifiedApiKeys
from gateway.keys import InvalidApiKey, looks_like_api_key
from gateway.ratelimit import Buckets, Limit, tightest
from gateway.tokens import AccessTokens, InvalidAccessToken

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="crm"'}
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class RateLimits:
    tenant: Limit
    api_key: Limit
    anonymous: Limit  # per client address, on signup and token endpoints
    bad_credentials: Limit = Limit(rate=0.2, burst=20)  # 401s per client address
    login_failures: Limit = Limit(rate=10 / 900, burst=10)  # failed logins per email
    open_paths: Limit = Limit(rate=10, burst=100)  # requests to open paths per client address
    verify_resend: Limit = Limit(rate=5 / 3600, burst=5)  # verification emails per user


def parse_trusted_proxies(raw: str | None) -> tuple[Network, ...]:
    """`CRM_TRUSTED_PROXIES`: comma-separated CIDRs (or single addresses)."""
    networks = []
    for part in (raw or "").replace(";", ",").split(","):
        if part.strip():
            try:
                networks.append(ipaddress.ip_network(part.strip(), strict=False))
            except ValueError as exc:
                raise RuntimeError(f"CRM_TRUSTED_PROXIES: {part.strip()!r} is not a CIDR or address") from exc
    return tuple(networks)


def client_address(remote_addr: str | None, forwarded_for: list[str], trusted: tuple[Network, ...]) -> str:
    """The peer unless it is a trusted proxy; then X-Forwarded-For walked right to left, skipping
    trusted hops: the first untrusted address is the client (everything left of it is whatever
    the client chose to send, so never believed)."""
    peer = remote_addr or ""
    if not trusted or not _is_trusted(peer, trusted):
        return peer
    hops = [h.strip() for value in forwarded_for for h in value.split(",") if h.strip()]
    last = peer
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return last  # garbage where a proxy should have written an address: stop at the last good hop
        if not _is_trusted(hop, trusted):
            return hop
        last = hop
    return last


def _is_trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


@dataclass
class Guard:
    """Rate limits and abuse counters shared by the authenticate hook and the login route."""

    buckets: Buckets
    limits: RateLimits
    trusted_proxies: tuple[Network, ...] = ()

    def client(self) -> str:
        return client_address(request.remote_addr, request.headers.getlist("X-Forwarded-For"), self.trusted_proxies)

    def limit(self, checks: list[tuple[str, Limit, str]], gate: tuple[str, Limit, str, str] | None = None) -> None:
        """Take a token from each bucket (one step, one Redis round trip). `gate` (key, limit,
        label, message) is looked at first without taking: when empty, 429 and nothing is taken."""
        steps = [(key, lim, 1, False) for key, lim, _ in checks]
        if gate is not None:
            steps.insert(0, (gate[0], gate[1], 0, True))
        decisions = self.buckets.take_all(steps)
        if gate is not None:
            looked = decisions.pop(0)
            if not looked.allowed:
                metrics().rate_limit_rejections.labels(gate[2]).inc()
                raise TooManyRequests(gate[3], headers={"Retry-After": str(looked.retry_after)})
        decision = tightest(decisions)
        g.rate_limit = decision
        if not decision.allowed:
            refused = next(label for (_, _, label), d in zip(checks, decisions, strict=True) if not d.allowed)
            metrics().rate_limit_rejections.labels(refused).inc()
            raise TooManyRequests("Rate limit exceeded; slow down.", headers={"Retry-After": str(decision.retry_after)})

    def refuse_if_exhausted(self, key: str, lim: Limit, label: str, message: str) -> None:
        decision = self.buckets.take(key, lim, 0)
        if not decision.allowed:
            metrics().rate_limit_rejections.labels(label).inc()
            raise TooManyRequests(message, headers={"Retry-After": str(decision.retry_after)})

    def bad_credential(self) -> None:
        self.buckets.take(f"bad:{self.client()}", self.limits.bad_credentials)

    def before_login(self, email: str) -> None:
        """Checked before the password is: an exhausted email answers 429 without a verification
        (the same for an unknown email, so the 429 says nothing about the account)."""
        self.refuse_if_exhausted(f"login:{_email_key(email)}", self.limits.login_failures, "login",
                                 "Too many failed sign-ins for this email; try again later.")

    def login_failed(self, email: str) -> None:
        self.buckets.take(f"login:{_email_key(email)}", self.limits.login_failures)

    def login_succeeded(self, email: str) -> None:
        self.buckets.reset(f"login:{_email_key(email)}")

    def resend_allowed(self, user_id: object) -> bool:
        """One verification email more for this user, or False when its budget is spent."""
        decision = self.buckets.take(f"verify:{user_id}", self.limits.verify_resend)
        if not decision.allowed:
            metrics().rate_limit_rejections.labels("verify_resend").inc()
        return decision.allowed


def _email_key(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]  # no addresses in Redis keys


def _credential() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def make_authenticate(db: Database, access: AccessTokens, guard: Guard, anonymous_paths: frozenset[str],
                      negative: NegativeCache | None = None, users: UserStatus | None = None,
                      keys: VerifiedApiKeys | None = None,
                      tokens: VerifiedAccessTokens | None = None,
                      is_open: Callable[[str], bool] | None = None) -> Callable[[], None]:
    """`is_open(path)`: the path is forwarded without a credential (the router's open routes)."""
    negative = negative if negative is not None else NegativeCache()
    users = users if users is not None else UserStatus(db)
    keys = keys if keys is not None else VerifiedApiKeys(db)
    tokens = tokens if tokens is not None else VerifiedAccessTokens(access)
    limits = guard.limits

    def authenticate() -> None:
        client = guard.client()
        if request.path in anonymous_paths:
            guard.limit([(f"ip:{client}", limits.anonymous, "address")])
            return
        if is_open is not None and is_open(request.path):
            # No credential is looked at (an Authorization header is ignored, and the proxy never
            # forwards it): the service behind finds the tenant from the secret in the request.
            guard.limit([(f"open:{client}", limits.open_paths, "open_path")])
            context.set_principal(context.public_principal())
            return
        credential = _credential()
        is_key = credential is not None and looks_like_api_key(credential)
        # A caller whose bad credentials used up its bucket is refused before any lookup. A
        # credential verified a moment ago needs none: its bucket is looked at in the same step
        # as the tenant's and key's (one Redis round trip instead of two).
        gate = (f"bad:{client}", limits.bad_credentials, "bad_credentials",
                "Too many requests with bad credentials; slow down.")
        if credential is not None and (keys.known(credential) if is_key else tokens.known(credential)):
            deferred: tuple[str, Limit, str, str] | None = gate
        else:
            guard.refuse_if_exhausted(*gate)
            deferred = None
        try:
            if credential is None:
                raise Unauthorized("Send `Authorization: Bearer <access token or API key>`.", headers=CHALLENGE)
            if is_key:
                if credential in negative:
                    raise InvalidApiKey("recently refused")
                try:
                    principal = keys.authenticate(credential)
                except InvalidApiKey:
                    negative.add(credential)
                    raise
            else:
                principal = tokens.verify(credential)
                users.check(principal)
        except (InvalidApiKey, InvalidAccessToken):
            guard.bad_credential()
            raise Unauthorized("The credential is invalid, expired or revoked.", headers=CHALLENGE) from None
        except Unauthorized:
            guard.bad_credential()
            raise
        context.set_principal(principal)
        checks = [(f"t:{principal.tenant_id}", limits.tenant, "tenant")]
        if principal.api_key_id:
            checks.append((f"k:{principal.api_key_id}", limits.api_key, "api_key"))
        guard.limit(checks, gate=deferred)

    return authenticate


def rate_limit_headers(resp: Response) -> Response:
    decision = g.get("rate_limit")
    if decision is not None:
        resp.headers["RateLimit-Limit"] = str(decision.limit)
        resp.headers["RateLimit-Remaining"] = str(decision.remaining)
        resp.headers["RateLimit-Reset"] = str(decision.reset)
    return resp
