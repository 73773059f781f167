"""Tenant scoping for ORM sessions: criteria on reads, stamping on writes, RLS setting on PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, with_loader_criteria

from crm_core import context
from crm_db.base import TenantScoped


class TenantGuardError(RuntimeError):
    """Tenant-scoped data touched without a tenant, or a row stamped with another tenant."""


def _touches_tenant_data(state: ORMExecuteState) -> bool:
    return any(issubclass(m.class_, TenantScoped) for m in state.all_mappers)


def _scope_query(state: ORMExecuteState) -> None:
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
    if connection.dialect.name != "postgresql":
        return
    tenant = str(context.current_tenant() or "")
    # is_local=true: the setting dies with the transaction, so a pooled connection never
    # carries one tenant's id into another tenant's request.
    raw = connection.connection.driver_connection
    if hasattr(raw, "pipeline"):
        # psycopg 3: BEGIN and set_config go out together, one round trip instead of two.
        with raw.pipeline():
            raw.execute("select set_config('app.tenant_id', %s, true)", (tenant,))
        return
    connection.execute(text("select set_config('app.tenant_id', :t, true)"), {"t": tenant})


def install(session_class: type[Session]) -> None:
    """Attach the guards to a session class (idempotent)."""
    if not event.contains(session_class, "do_orm_execute", _scope_query):
        event.listen(session_class, "do_orm_execute", _scope_query)
        event.listen(session_class, "before_flush", _stamp_new_rows)
        event.listen(session_class, "after_begin", _set_rls_tenant)
