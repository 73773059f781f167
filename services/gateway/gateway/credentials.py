"""Credentials verified once and trusted briefly per process: access tokens until they expire,
API keys while the key epoch stands still, users' current role for a few seconds. Each cache is
keyed by a digest of the credential (never the secret in clear) and bounded."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections import OrderedDict

import psycopg
from sqlalchemy import select, text

from crm_core.context import Principal
from crm_db.database import Database
from gateway.keys import ApiKeys, InvalidApiKey
from gateway.models import User
from gateway.tokens import AccessTokens, InvalidAccessToken

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
