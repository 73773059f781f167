"""Tenant scoping for ORM sessions: criteria on reads, stamping on writes, RLS setting on PostgreSQL."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Executable, event, text
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, with_loader_criteria

from crm_core import context
from crm_db.base import TenantScoped


class TenantGuardError(RuntimeError):
    """Tenant-scoped data touched without a tenant, or a row stamped with another tenant."""


PREFETCH = "crm_prefetch"
_DEFERRED = "crm_deferred_writes"  # on the connection's info: statements not sent yet
_HAS_DEFERRED = "crm_has_deferred_writes"  # on the session's info


@dataclass(frozen=True)
class Prefetch:
    """A read sent together with the transaction's BEGIN and tenant setting (on PostgreSQL one
    pipeline, so one round trip for all of them); `store(session, rows)` puts what it read where
    the code that needs it looks first (session.info). Core statements only, scoped by hand (a
    `tenant_id = :t` condition: the ORM criteria don't apply; RLS still does)."""

    statement: Executable
    params: dict[str, Any]
    store: Callable[[Session, Sequence[Any]], None]


@functools.lru_cache(maxsize=256)
def _compiled(statement: Executable, dialect: Dialect) -> Any:
    return statement.compile(dialect=dialect)  # type: ignore[attr-defined]


def _driver_params(compiled: Any, params: dict[str, Any]) -> dict[str, Any]:
    values = compiled.construct_params(params)
    for name, process in compiled._bind_processors.items():
        if name in values and values[name] is not None:
            values[name] = process(values[name])
    return values


def defer(session: Session, statement: Executable, params: dict[str, Any]) -> None:
    """Send this write (it returns nothing) later: with the COMMIT in Database.transaction (one
    round trip on PostgreSQL), or right before the next statement of the transaction, whichever
    comes first, so the transaction always reads its own writes."""
    conn = session.connection()
    conn.info.setdefault(_DEFERRED, []).append((statement, params))
    session.info[_HAS_DEFERRED] = True


def deferred(session: Session) -> bool:
    return bool(session.info.get(_HAS_DEFERRED)) and bool(session.connection().info.get(_DEFERRED))


def flush_deferred(session: Session) -> None:
    if session.info.pop(_HAS_DEFERRED, None):
        _send_deferred(session.connection())


def _send_deferred(conn: Connection) -> None:
    writes = conn.info.pop(_DEFERRED, None)
    for statement, params in writes or ():
        conn.execute(statement, params)


def _before_execute(conn: Connection, *_: Any) -> None:
    if conn.info.get(_DEFERRED):
        _send_deferred(conn)  # popped first: the writes' own executes don't come back here


def _drop_deferred(conn: Connection, *_: Any) -> None:
    conn.info.pop(_DEFERRED, None)


def _drop_deferred_record(_dbapi: Any, record: Any, *_: Any) -> None:
    record.info.pop(_DEFERRED, None)


def _flush_before_commit(session: Session) -> None:
    flush_deferred(session)  # a commit outside Database.transaction: sent before it, not lost


def install_engine(engine: Engine) -> None:
    """Deferred writes on this engine's connections: sent before any later statement, dropped on
    rollback and when a connection goes back to the pool."""
    if not event.contains(engine, "before_execute", _before_execute):
        event.listen(engine, "before_execute", _before_execute)
        event.listen(engine, "rollback", _drop_deferred)
        event.listen(engine.pool, "checkin", _drop_deferred_record)


def _touches_tenant_data(state: ORMExecuteState) -> bool:
    return any(issubclass(m.class_, TenantScoped) for m in state.all_mappers)


def _scope_query(state: ORMExecuteState) -> None:
    if state.session.info.get(_HAS_DEFERRED):
        flush_deferred(state.session)
    if state.is_column_load or state.is_relationship_load:
        return  # the parent statement already carries the criteria
    if not (state.is_select or state.is_update or state.is_delete):
        return
    tenant = context.current_tenant()
    if tenant is None:
        if _touches_tenant_data(state):
            raise TenantGuardError("query on tenant data without a tenant in context")
        return
    state.statement = state.statement.options(
        with_loader_criteria(TenantScoped, lambda cls: cls.tenant_id == tenant, include_aliases=True)
    )


def _stamp_new_rows(session: Session, flush_context: Any, instances: Any) -> None:
    if not session.new:
        return
    tenant = context.current_tenant()
    for obj in session.new:
        if not isinstance(obj, TenantScoped):
            continue
        if tenant is None:
            raise TenantGuardError(f"cannot write {type(obj).__name__} without a tenant in context")
        if obj.tenant_id is None:
            obj.tenant_id = tenant
        elif obj.tenant_id != tenant:
            raise TenantGuardError(f"{type(obj).__name__} belongs to another tenant")


def _set_rls_tenant(session: Session, transaction: SessionTransaction, connection: Connection) -> None:
    prefetch: Sequence[Prefetch] = session.info.pop(PREFETCH, ())
    if connection.dialect.name != "postgresql":
        for p in prefetch:
            p.store(session, connection.execute(p.statement, p.params).all())
        return
    tenant = str(context.current_tenant() or "")
    # is_local=true: the setting dies with the transaction, so a pooled connection never
    # carries one tenant's id into another tenant's request.
    raw = connection.connection.driver_connection
    if hasattr(raw, "pipeline"):
        # psycopg 3: BEGIN, set_config and the prefetched reads go out together, one round trip.
        # The reads run after set_config in the same transaction, so RLS sees the tenant.
        own_begin = _own_begin(raw)
        try:
            with raw.pipeline():
                if own_begin:
                    raw.execute("BEGIN")
                raw.execute("select set_config('app.tenant_id', %s, true)", (tenant,))
                cursors = []
                for p in prefetch:
                    compiled = _compiled(p.statement, connection.dialect)
                    cursors.append(raw.execute(compiled.string, _driver_params(compiled, p.params)))
        finally:
            if own_begin:
                raw._autocommit = False  # the public setter refuses inside the transaction just begun
        for p, cur in zip(prefetch, cursors, strict=True):
            p.store(session, cur.fetchall())
        return
    connection.execute(text("select set_config('app.tenant_id', :t, true)"), {"t": tenant})
    for p in prefetch:
        p.store(session, connection.execute(p.statement, p.params).all())


def _own_begin(raw: Any) -> bool:
    """Whether we send BEGIN ourselves, queued like any statement. psycopg sends its own before the
    first statement and, in a pipeline, syncs on it: a round trip for nothing. In autocommit mode
    it sends none, so the connection is switched to it (allowed while idle, outside the pipeline)
    until our BEGIN has gone out, then back to transactions."""
    if raw.autocommit or raw.pgconn.transaction_status != 0 or not hasattr(raw, "_autocommit"):  # 0: IDLE
        return False
    raw.autocommit = True
    return True


def install(session_class: type[Session]) -> None:
    """Attach the guards to a session class (idempotent)."""
    if not event.contains(session_class, "do_orm_execute", _scope_query):
        event.listen(session_class, "do_orm_execute", _scope_query)
        event.listen(session_class, "before_flush", _stamp_new_rows)
        event.listen(session_class, "after_begin", _set_rls_tenant)
        event.listen(session_class, "before_commit", _flush_before_commit)
