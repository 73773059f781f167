"""The app role a service connects as must be subject to row-level security, or RLS protects nothing.

A role that owns the tables (directly or through membership), is a superuser or has BYPASSRLS
sees every tenant's rows whatever the policies say: the service refuses to start on one.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from crm_db.transient import is_transient

log = logging.getLogger(__name__)

_ROLE_FACTS = text("""
select r.rolname as role, r.rolsuper as superuser, r.rolbypassrls as bypassrls,
       (select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')
           and n.nspname not like 'pg_toast%' and pg_has_role(r.oid, c.relowner, 'USAGE')) as owned_tables
  from pg_roles r where r.rolname = current_user
""")


class UnsafeDatabaseRole(RuntimeError):
    """The service's database role could read around row-level security."""


def check_app_role(engine: Engine, service: str, wait_seconds: float = 30.0) -> None:
    """Raise UnsafeDatabaseRole unless the connected role is an RLS-bound app role (PostgreSQL only).

    A database that is still starting (or failing over) is waited for up to `wait_seconds`, so a
    process started alongside it does not exit for that alone.
    """
    if engine.dialect.name != "postgresql":
        return
    deadline, delay = time.monotonic() + wait_seconds, 0.5
    while True:
        try:
            with engine.connect() as conn:
                facts = conn.execute(_ROLE_FACTS).one()
            break
        except DBAPIError as exc:
            if not is_transient(exc) or time.monotonic() + delay > deadline:
                raise
            log.warning("%s: database not reachable yet (%s); retrying in %.1fs", service, exc.orig, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
    problems = []
    if facts.superuser:
        problems.append("is a superuser")
    if facts.bypassrls:
        problems.append("has BYPASSRLS")
    if facts.owned_tables:
        problems.append(f"owns {facts.owned_tables} table(s) (or is a member of their owner)")
    if problems:
        raise UnsafeDatabaseRole(
            f"{service}: CRM_DATABASE_URL connects as role {facts.role!r}, which {', '.join(problems)}; row-level "
            "security would not apply to it. Connect as the app role (DML grants only, see deploy/postgres/init.sh) "
            "and run migrations with CRM_DATABASE_OWNER_URL.")


def warn_if_owner_is_app(service: str, database_url: str, owner_url: str) -> None:
    """Migrations as the app role make it the tables' owner, which check_app_role then refuses."""
    if database_url.startswith("postgresql") and owner_url == database_url:
        log.warning("%s: CRM_DATABASE_OWNER_URL is not set, so migrations run as the app role of CRM_DATABASE_URL; "
                    "that role then owns the tables and the service will refuse to start. Set CRM_DATABASE_OWNER_URL "
                    "to the owner role.", service)
