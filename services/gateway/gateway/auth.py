"""Who is calling: bearer credential -> principal, then rate limits. Runs before every non-public route.

Abuse controls, all on the token buckets (Redis, or in-process):
- the client address is the socket's peer, or taken from X-Forwarded-For only through the
  configured trusted proxies (CRM_TRUSTED_PROXIES);
- anonymous routes (signup, login, refresh, logout, invitations) are limited per client address;
- bad credentials (missing, malformed, unknown, expired: every 401) are counted per client
  address, and once that bucket is empty the caller gets 429 before any lookup is made; unknown
  API keys are also remembered briefly, so repeating one costs no query;
- failed logins are throttled per email (429 with Retry-After), whether or not the account exists.
"""

from __future__ import annotations

import hashlib
import ipaddress
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from flask import Response, g, request
from sqlalchemy import select, text

from crm_core import context
from crm_core.context import Principal
from crm_core.errors import TooManyRequests, Unauthorized
from crm_core.metrics import metrics
from crm_db.database import Database
from gateway.keys import ApiKeys, InvalidApiKey, looks_like_api_key
from gateway.models import User
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


_MISSING = object()


class TtlCache:
    """A bounded map whose entries expire `ttl` seconds after they were put (thread-safe)."""

    def __init__(self, ttl: float, size: int) -> None:
        self.ttl, self.size = ttl, size
        self._entries: OrderedDict[object, tuple[float, object]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: object) -> object:
        """The value, or _MISSING when absent or expired."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return _MISSING
            if time.monotonic() - entry[0] > self.ttl:
                del self._entries[key]
                return _MISSING
            return entry[1]

    def put(self, key: object, value: object) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def pop(self, key: object) -> None:
        with self._lock:
            self._entries.pop(key, None)


class NegativeCache:
    """API keys recently found unknown or revoked, by hash, for `ttl` seconds (bounded)."""

    def __init__(self, ttl: float = 30.0, size: int = 10_000) -> None:
        self._cache = TtlCache(ttl, size)

    @staticmethod
    def _digest(credential: str) -> str:
        return hashlib.sha256(credential.encode()).hexdigest()

    def __contains__(self, credential: str) -> bool:
        return self._cache.get(self._digest(credential)) is not _MISSING

    def add(self, credential: str) -> None:
        self._cache.put(self._digest(credential), True)


def _digest(credential: str) -> bytes:
    """What the caches below are keyed by: a credential never sits in them in clear."""
    return hashlib.sha256(credential.encode()).digest()


class VerifiedAccessTokens:
    """Access tokens whose signature and claims were checked, until their own expiry (bounded).

    A token's principal is a pure function of the token, so looking it up is the same check as
    decoding it again while it has not expired; what can change (the user deactivated, their
    role changed) is UserStatus's to check on every request, cached or not.
    """

    def __init__(self, access: AccessTokens, size: int = 50_000) -> None:
        self.access = access
        self._cache = TtlCache(float(access.ttl_seconds), size)

    def known(self, token: str) -> bool:
        return self._cache.get(_digest(token)) is not _MISSING

    def verify(self, token: str) -> Principal:
        digest = _digest(token)
        entry = self._cache.get(digest)
        if entry is not _MISSING:
            principal, expires = entry  # type: ignore[misc]
            if time.time() < expires:
                return principal  # type: ignore[no-any-return]
            self._cache.pop(digest)
        principal, expires = self.access.verify_until(token)
        self._cache.put(digest, (principal, expires))
        return principal


class KeyEpoch:
    """The current api_key_epoch, read on every request served from the API-key cache.

    On PostgreSQL over a few autocommit connections of its own with a prepared statement (about
    40 µs of CPU, against about 300 µs for a pooled SQLAlchemy connection with its BEGIN and
    ROLLBACK); elsewhere (SQLite, one embedded process) through the engine. A connection that
    fails is dropped and the error raised (a transient one answers 503); the next read reconnects.
    """

    SQL = "SELECT epoch FROM api_key_epoch WHERE id = 1"

    def __init__(self, db: Database, idle: int = 8) -> None:
        self.db, self.idle = db, idle
        url = db.engine.url
        self._dsn = url.set(drivername="postgresql").render_as_string(hide_password=False) \
            if url.get_backend_name() == "postgresql" else None
        self._conns: list[psycopg.Connection[tuple[int]]] = []
        self._lock = threading.Lock()

    def read(self) -> int | None:
        if self._dsn is None:
            with self.db.engine.connect() as conn:
                return conn.execute(text(self.SQL)).scalar()
        with self._lock:
            conn = self._conns.pop() if self._conns else None
        if conn is None:
            conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=5)
        try:
            row = conn.execute(self.SQL, prepare=True).fetchone()
        except BaseException:
            conn.close()
            raise
        with self._lock:
            keep = len(self._conns) < self.idle
            if keep:
                self._conns.append(conn)
        if not keep:
            conn.close()
        return row[0] if row else None


class VerifiedApiKeys:
    """API keys verified against the database, trusted for `ttl` seconds per process, and only
    while the key epoch (one row, moved by a trigger on every change to api_keys) is the one they
    were verified under: the epoch is read on every request (a primary-key read, no ORM), so a
    revocation made through any gateway process is refused on the very next request everywhere.

    The epoch is read before the key is looked up: a change committed after that read leaves a
    newer epoch, which the next request sees, so a stale entry can never outlive a change.
    """

    def __init__(self, db: Database, ttl: float = 5.0, size: int = 10_000) -> None:
        self.db, self.ttl = db, ttl
        self._cache = TtlCache(ttl, size)
        self._epoch = KeyEpoch(db)

    def epoch(self) -> int | None:
        return self._epoch.read()

    def known(self, credential: str) -> bool:
        return self._cache.get(_digest(credential)) is not _MISSING

    def authenticate(self, credential: str) -> Principal:
        if self.ttl <= 0:
            return self._lookup(credential)
        epoch = self.epoch()
        digest = _digest(credential)
        entry = self._cache.get(digest)
        if entry is not _MISSING and epoch is not None and entry[0] == epoch:  # type: ignore[index]
            return entry[1]  # type: ignore[index,no-any-return]
        try:
            principal = self._lookup(credential)
        except InvalidApiKey:
            self._cache.pop(digest)
            raise
        if epoch is not None:
            self._cache.put(digest, (epoch, principal))
        return principal

    def _lookup(self, credential: str) -> Principal:
        with self.db.transaction() as session:
            return ApiKeys.authenticate(session, credential)


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


def _email_key(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]  # no addresses in Redis keys


def _credential() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


class UserStatus:
    """Whether an access token's user is still active and still holds the token's role.

    An access token lives 15 minutes; without this, a deactivated or demoted user would keep
    acting through the gateway for that long. Each user's row is read at most once per `ttl`
    seconds per process (one primary-key lookup), so a deactivation or role change takes effect
    everywhere within `ttl`, and at once in the process that made it (`forget`).
    """

    def __init__(self, db: Database, ttl: float = 5.0, size: int = 50_000) -> None:
        self.db = db
        self._roles = TtlCache(ttl, size)  # user id -> current role, or None when deactivated or gone

    def _role(self, user_id: uuid.UUID, tenant_id: uuid.UUID) -> str | None:
        """The user's current role, or None when deactivated or gone."""
        cached = self._roles.get(user_id)
        if cached is not _MISSING:
            return cached  # type: ignore[return-value]
        with self.db.transaction() as session:
            row = session.execute(select(User.role, User.deactivated_at)
                                  .where(User.id == user_id, User.tenant_id == tenant_id)).first()
        role = row.role if row is not None and row.deactivated_at is None else None
        self._roles.put(user_id, role)
        return role

    def check(self, principal: Principal) -> None:
        if principal.user_id is None:
            return
        role = self._role(principal.user_id, principal.tenant_id)
        if role is None or role not in principal.roles:
            raise InvalidAccessToken("the user was deactivated or their role changed; sign in or refresh")

    def forget(self, user_id: uuid.UUID) -> None:
        self._roles.pop(user_id)


def make_authenticate(db: Database, access: AccessTokens, guard: Guard, anonymous_paths: frozenset[str],
                      negative: NegativeCache | None = None, users: UserStatus | None = None,
                      keys: VerifiedApiKeys | None = None,
                      tokens: VerifiedAccessTokens | None = None) -> Callable[[], None]:
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
