"""Per-service databases with the same role split as production.

Each service gets an owner role (runs migrations, owns the schema) and an app
role (runs the service: DML only, no DDL, subject to row-level security).
Tests that connect as the app role therefore catch missing grants and RLS
leaks that a superuser connection would hide.
"""

from __future__ import annotations

import atexit
import re
import threading
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

OWNER_PASSWORD = "owner"
APP_PASSWORD = "app"
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
# PostgreSQL truncates identifiers to 63 bytes; "<name>_owner" must still be unique.
_MAX_NAME = 63 - len("_owner")

# NOSUPERUSER/NOBYPASSRLS spelled out: both roles must stay subject to RLS even
# if an earlier run (or a human) altered them, since roles outlive databases.
_ROLE_OPTIONS = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"


def create_service_database(admin_url: str, name: str) -> tuple[str, str]:
    """(Re)create database ``name`` with ``<name>_owner`` and ``<name>_app`` roles.

    ``admin_url`` is a superuser DSN (``postgresql://`` or ``postgresql+driver://``).
    Returns ``(owner_url, app_url)`` as ``postgresql+psycopg://`` SQLAlchemy URLs.
    Any existing database of that name is dropped first (connections are
    terminated); roles are cluster-wide, so they are reused and their passwords reset.
    """
    _validate_name(name)
    owner, app = f"{name}_owner", f"{name}_app"
    admin_dsn = libpq_url(admin_url)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        _ensure_role(conn, owner, OWNER_PASSWORD)
        _ensure_role(conn, app, APP_PASSWORD)
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner)))
        # Only this service's roles may connect (the owner can as database owner).
        conn.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name)))
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(name), sql.Identifier(app)))
    with psycopg.connect(_with_database(admin_dsn, name), autocommit=True) as conn:
        for statement in _schema_statements(owner, app):
            conn.execute(statement)
    return _service_url(admin_url, owner, OWNER_PASSWORD, name), _service_url(admin_url, app, APP_PASSWORD, name)


_TEMPLATES: dict[tuple[str, str], tuple[str, str, str]] = {}  # (admin URL, key) -> (template, owner, app)
_TEMPLATE_LOCK = threading.Lock()


def migrated_copy(admin_url: str, key: str, migrate: Callable[[str], None]) -> tuple[str, str, str]:
    """(owner_url, app_url, name) of a new database that is a copy of one migrated once per process
    for `key` (CREATE DATABASE ... TEMPLATE: milliseconds, where migrating anew takes most of a
    second). The copies share the template's owner and app roles, so grants and RLS are the same."""
    with _TEMPLATE_LOCK:
        found = _TEMPLATES.get((admin_url, key))
        if found is None:
            template = f"tmpl_{key}_{uuid.uuid4().hex[:8]}"
            owner_url, _app_url = create_service_database(admin_url, template)
            migrate(owner_url)
            found = (template, f"{template}_owner", f"{template}_app")
            _TEMPLATES[(admin_url, key)] = found
            atexit.register(_drop_quietly, admin_url, template)
        template, owner, app = found
        name = f"{key}_{uuid.uuid4().hex[:10]}"
        _validate_name(name)
        with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
            # A template must have no sessions: close whatever the migration's pool left open.
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                         (template,))
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(template), sql.Identifier(owner)))
            conn.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name)))
            conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(name), sql.Identifier(app)))
    return (_service_url(admin_url, owner, OWNER_PASSWORD, name), _service_url(admin_url, app, APP_PASSWORD, name), name)


def _drop_quietly(admin_url: str, name: str) -> None:
    try:
        drop_service_database(admin_url, name)
    except Exception:  # the server may be gone already at exit
        pass


def drop_service_database(admin_url: str, name: str) -> None:
    """Drop a database create_service_database made (its connections are terminated)."""
    _validate_name(name)
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def libpq_url(url: str) -> str:
    """Drop a SQLAlchemy driver suffix (``postgresql+psycopg://`` -> ``postgresql://``) for psycopg."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}"


def _validate_name(name: str) -> None:
    if not _NAME.match(name) or len(name) > _MAX_NAME:
        raise ValueError(f"database name must match {_NAME.pattern} and be at most {_MAX_NAME} chars: {name!r}")


def _ensure_role(conn: psycopg.Connection, role: str, password: str) -> None:
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    if not exists:
        try:
            conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
        except (psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
            pass  # a concurrent test run created it between our check and CREATE
    # Passwords are literals, not bind parameters: utility statements take no parameters.
    alter = sql.SQL("ALTER ROLE {} WITH " + _ROLE_OPTIONS + " PASSWORD {}")
    conn.execute(alter.format(sql.Identifier(role), sql.Literal(password)))


def _schema_statements(owner: str, app: str) -> list[sql.Composed]:
    o, a = sql.Identifier(owner), sql.Identifier(app)
    return [
        # As superuser: extensions are not something the owner role may install.
        sql.SQL("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public").format(),
        # The owner runs migrations, so it owns the schema (and thus may CREATE in it).
        sql.SQL("ALTER SCHEMA public OWNER TO {}").format(o),
        sql.SQL("REVOKE ALL ON SCHEMA public FROM PUBLIC").format(),
        sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(a),
        # Tables/sequences the owner creates later (migrations) become usable by the app role.
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}"
        ).format(o, a),
        sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {}").format(o, a),
    ]


def _with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


def _service_url(admin_url: str, role: str, password: str, database: str) -> str:
    parts = urlsplit(libpq_url(admin_url))
    host = parts.hostname or "127.0.0.1"
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"postgresql+psycopg://{role}:{password}@{host}{port}/{database}"
