"""Idempotency-Key for POST: a retry with the same key and body gets the first answer.

A key is claimed in its own short transaction before the work runs, so two concurrent requests
with one key cannot both do the work; the second gets 409 until the first has answered.

- Keys are scoped to the tenant and to the credential (user or API key): two users of one tenant
  who happen to pick the same key never see each other's answers. Anonymous calls (signup) are
  scoped to the key and the body's hash, so an anonymous caller learns nothing from a key.
- A claim is a lease (CRM_IDEMPOTENCY_LEASE_SECONDS): a claim whose process died before it
  answered can be retaken once the lease has run out, instead of answering 409 forever. The
  work of a request that died after committing and before recording its answer runs again on
  such a retry: the answer is recorded in its own transaction, after the work's.
- Answers are kept CRM_IDEMPOTENCY_TTL_SECONDS (24 h); older ones are treated as absent and
  purged now and then (one claim in PURGE_ONE_IN, only the claiming tenant's rows: cheap, on the
  primary key's tenant prefix).

The stored `key` is `<credential>/<sha256 of the client's key>`: bounded in length whatever the
client sends, and it names who claimed it. No schema change was needed for any of this.

Answers that carry secrets (a new API key, an invitation, signup tokens) are stored `sealed`:
AES-GCM under a key derived (HKDF) from the client's Idempotency-Key itself, which is never
stored. Only a retry that presents the key can read the answer; the database alone cannot.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import os
import random
import uuid
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Response, current_app, request
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, Uuid, and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from crm_core import context
from crm_core.errors import Conflict, ProblemError, UnprocessableEntity
from crm_db.base import utcnow
from crm_db.database import Database
from crm_http.problems import from_problem

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
DEFAULT_TTL_SECONDS = 24 * 3600
# Well above a web worker's request timeout (gunicorn: 30 s), so a live request keeps its claim.
DEFAULT_LEASE_SECONDS = 120
PURGE_ONE_IN = 64
ANONYMOUS_TENANT = uuid.UUID(int=0)  # the tenant column of anonymous claims (signup)
SEALED = "sealed:v1:"


def _sealing_key(client_key: str, stored_key: str) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"crm-idempotency:" + stored_key.encode()).derive(client_key.encode())
    return AESGCM(derived)


def seal(body: str, client_key: str, stored_key: str) -> str:
    nonce = os.urandom(12)
    sealed = _sealing_key(client_key, stored_key).encrypt(nonce, body.encode(), None)
    return SEALED + base64.b64encode(nonce + sealed).decode()


def unseal(stored: str, client_key: str, stored_key: str) -> str:
    if not stored.startswith(SEALED):
        return stored
    raw = base64.b64decode(stored[len(SEALED):])
    return _sealing_key(client_key, stored_key).decrypt(raw[:12], raw[12:], None).decode()


@functools.cache
def idempotency_table(metadata: MetaData) -> Table:
    return Table(
        "idempotency_keys", metadata,
        Column("tenant_id", Uuid(), primary_key=True),
        Column("key", String(200), primary_key=True),
        Column("request_hash", String(64), nullable=False),
        Column("status", Integer, nullable=True),  # NULL while the first request is running
        Column("body", Text, nullable=True),
        Column("location", String(500), nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False, default=utcnow),  # claimed at
    )


def _fingerprint() -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode() + b" " + request.path.encode() + b"\n")
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _seconds(name: str, default: int) -> float:
    settings = current_app.extensions.get("crm_settings")
    raw = settings.get(name) if settings is not None else None
    try:
        value = float(raw) if raw else float(default)
    except ValueError:
        value = float(default)
    return value if value > 0 else float(default)


def _scope(client_key: str, request_hash: str, anonymous: bool) -> tuple[uuid.UUID, str]:
    """(tenant column, stored key) for this caller."""
    digest = hashlib.sha256(client_key.encode()).hexdigest()
    if anonymous:
        return ANONYMOUS_TENANT, "anon/" + hashlib.sha256(f"{digest}:{request_hash}".encode()).hexdigest()
    principal = context.current_principal()
    tenant = context.require_tenant()
    if principal is not None and principal.api_key_id is not None:
        who = f"k:{principal.api_key_id}"
    elif principal is not None and principal.user_id is not None:
        who = f"u:{principal.user_id}"
    else:
        who = "t"
    return tenant, f"{who}/{digest}"


def idempotent(db_getter: Callable[[], Database], table_getter: Callable[[], Table],
               fingerprint: Callable[[], str] | None = None, *, anonymous: bool = False,
               lease_seconds: float | None = None, sealed: bool = False) -> Callable[..., Any]:
    """`fingerprint` replaces hashing the raw body, for bodies too big to hold in memory (uploads);
    `lease_seconds` overrides the configured lease for routes whose work takes longer (uploads);
    `anonymous` scopes keys to key + body, for routes without a credential (signup);
    `sealed` stores the answer encrypted under the client's key, for answers that carry secrets."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            client_key = request.headers.get(HEADER)
            if not client_key:
                return view(*args, **kwargs)
            if len(client_key) > 200:
                raise UnprocessableEntity(errors={HEADER: ["At most 200 characters."]})
            db, table = db_getter(), table_getter()
            request_hash = (fingerprint or _fingerprint)()
            tenant, key = _scope(client_key, request_hash, anonymous)
            # Every row is read and written as its tenant, so RLS holds for these tables too
            # (anonymous claims belong to the all-zero tenant).
            as_owner = functools.partial(context.tenant_context, tenant)
            ttl = _seconds("CRM_IDEMPOTENCY_TTL_SECONDS", DEFAULT_TTL_SECONDS)
            lease = lease_seconds or _seconds("CRM_IDEMPOTENCY_LEASE_SECONDS", DEFAULT_LEASE_SECONDS)
            with as_owner():
                claimed_at = _claim(db, table, tenant, key, request_hash, ttl, lease)
                if claimed_at is None:
                    return _replay_or_refuse(db, table, tenant, key, request_hash, client_key)
            try:
                resp = current_app.make_response(view(*args, **kwargs))
            except ProblemError as exc:
                resp = from_problem(exc)  # a 4xx is an answer too, and is replayed like one
            except Exception:
                with as_owner():
                    _release(db, table, tenant, key, claimed_at)
                raise
            if resp.status_code >= 500:
                with as_owner():
                    _release(db, table, tenant, key, claimed_at)
                return resp
            body = resp.get_data(as_text=True)
            if sealed:
                body = seal(body, client_key, key)
            with as_owner(), db.transaction() as s:
                # Only while the claim is still ours: after a lost lease another request owns the key.
                s.execute(update(table).where(*_mine(table, tenant, key, claimed_at)).values(
                    status=resp.status_code, body=body, location=resp.headers.get("Location")
                ))
            return resp

        return wrapper

    return decorator


def _claim(db: Database, table: Table, tenant: uuid.UUID, key: str, request_hash: str, ttl: float,
           lease: float) -> dt.datetime | None:
    """The claim's timestamp when this request now owns the key, else None."""
    now = utcnow()
    if random.randrange(PURGE_ONE_IN) == 0:  # noqa: S311 - sampling, not security
        with db.transaction() as s:
            s.execute(delete(table).where(table.c.tenant_id == tenant,
                                          table.c.created_at < now - dt.timedelta(seconds=ttl)))
    try:
        with db.transaction() as s:
            s.execute(insert(table).values(tenant_id=tenant, key=key, request_hash=request_hash, created_at=now))
        return now
    except IntegrityError:
        pass
    # Taken: retake it if the holder's lease ran out before it answered, or the answer has expired.
    with db.transaction() as s:
        stale = or_(and_(table.c.status.is_(None), table.c.created_at < now - dt.timedelta(seconds=lease)),
                    table.c.created_at < now - dt.timedelta(seconds=ttl))
        retaken = s.execute(update(table).where(table.c.tenant_id == tenant, table.c.key == key, stale).values(
            request_hash=request_hash, status=None, body=None, location=None, created_at=now))
    return now if retaken.rowcount == 1 else None


def _replay_or_refuse(db: Database, table: Table, tenant: uuid.UUID, key: str, request_hash: str,
                      client_key: str) -> Response:
    with db.transaction() as s:
        row = s.execute(select(table).where(table.c.tenant_id == tenant, table.c.key == key)).first()
    if row is None:  # released between our insert and this read: the caller may simply retry
        raise Conflict("A request with this Idempotency-Key is still being processed.")
    if row.request_hash != request_hash:
        raise UnprocessableEntity(
            "This Idempotency-Key was used with another request body.", errors={HEADER: ["Reused key."]}
        )
    if row.status is None:
        raise Conflict("A request with this Idempotency-Key is still being processed.")
    resp = Response(unseal(row.body or "", client_key, key), status=row.status, mimetype=_mimetype(row.status))
    if row.location:
        resp.headers["Location"] = row.location
    resp.headers[REPLAYED] = "true"
    return resp


def _mine(table: Table, tenant: uuid.UUID, key: str, claimed_at: dt.datetime) -> tuple[Any, ...]:
    return (table.c.tenant_id == tenant, table.c.key == key, table.c.status.is_(None),
            table.c.created_at == claimed_at)


def _mimetype(status: int) -> str:
    return "application/problem+json" if status >= 400 else "application/json"


def _release(db: Database, table: Table, tenant: uuid.UUID, key: str, claimed_at: dt.datetime) -> None:
    with db.transaction() as s:
        s.execute(delete(table).where(*_mine(table, tenant, key, claimed_at)))
