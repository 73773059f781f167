"""Idempotency-Key for POST: a retry with the same key and body gets the first answer.

A key is claimed in its own short transaction before the work runs, so two concurrent requests
with one key cannot both do the work; the second gets 409 until the first has answered.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, request
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, Uuid, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from crm_core import context
from crm_core.errors import Conflict, ProblemError, UnprocessableEntity
from crm_db.base import utcnow
from crm_db.database import Database
from crm_http.problems import from_problem

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"


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
        Column("created_at", DateTime(timezone=True), nullable=False, default=utcnow),
    )


def _fingerprint() -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode() + b" " + request.path.encode() + b"\n")
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def idempotent(db_getter: Callable[[], Database], table_getter: Callable[[], Table],
               fingerprint: Callable[[], str] | None = None) -> Callable[..., Any]:
    """`fingerprint` replaces hashing the raw body, for bodies too big to hold in memory (uploads)."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = request.headers.get(HEADER)
            if not key:
                return view(*args, **kwargs)
            if len(key) > 200:
                raise UnprocessableEntity(errors={HEADER: ["At most 200 characters."]})
            db, table = db_getter(), table_getter()
            tenant = context.require_tenant()
            request_hash = (fingerprint or _fingerprint)()
            try:
                with db.transaction() as s:
                    s.execute(insert(table).values(tenant_id=tenant, key=key, request_hash=request_hash))
            except IntegrityError:
                with db.transaction() as s:
                    row = s.execute(select(table).where(table.c.tenant_id == tenant, table.c.key == key)).one()
                if row.request_hash != request_hash:
                    raise UnprocessableEntity(
                        "This Idempotency-Key was used with another request body.", errors={HEADER: ["Reused key."]}
                    ) from None
                if row.status is None:
                    raise Conflict("A request with this Idempotency-Key is still being processed.") from None
                resp = Response(row.body, status=row.status, mimetype=_mimetype(row.status))
                if row.location:
                    resp.headers["Location"] = row.location
                resp.headers[REPLAYED] = "true"
                return resp
            try:
                resp = current_app.make_response(view(*args, **kwargs))
            except ProblemError as exc:
                resp = from_problem(exc)  # a 4xx is an answer too, and is replayed like one
            except Exception:
                _release(db, table, tenant, key)
                raise
            if resp.status_code >= 500:
                _release(db, table, tenant, key)
                return resp
            with db.transaction() as s:
                s.execute(update(table).where(table.c.tenant_id == tenant, table.c.key == key).values(
                    status=resp.status_code, body=resp.get_data(as_text=True), location=resp.headers.get("Location")
                ))
            return resp

        return wrapper

    return decorator


def _mimetype(status: int) -> str:
    return "application/problem+json" if status >= 400 else "application/json"


def _release(db: Database, table: Table, tenant: Any, key: str) -> None:
    with db.transaction() as s:
        s.execute(delete(table).where(table.c.tenant_id == tenant, table.c.key == key))
