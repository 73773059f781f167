"""Which failures are transient (retry without moving on) and which are not (a poison event, a bug).

A transient failure says nothing about the event: the database or broker is unreachable or
restarting, or a concurrent transaction got in the way. Retrying the same event later succeeds.
Anything else is treated as deterministic: the handler will fail on this event every time.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import exc as sa_exc

# SQLSTATEs that mean "try again": serialisation failure, deadlock, lock timeout / NOWAIT,
# shutdowns and restarts (57P0x), and the classes for lost connections (08) and out of resources
# (53). Not 57014 (statement timeout): an event that always runs too long would retry forever.
TRANSIENT_SQLSTATES = {"40001", "40P01", "55P03", "57P01", "57P02", "57P03"}
TRANSIENT_SQLSTATE_CLASSES = {"08", "53"}
SQLITE_BUSY_MESSAGES = ("database is locked", "database table is locked", "database is busy", "sqlite_busy")


def _sqlstate(error: BaseException) -> str | None:
    for attr in ("sqlstate", "pgcode"):
        value = getattr(error, attr, None)
        if isinstance(value, str) and value:
            return value
    diag = getattr(error, "diag", None)
    value = getattr(diag, "sqlstate", None)
    return value if isinstance(value, str) and value else None


def _one_is_transient(error: BaseException) -> bool:
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, (sa_exc.DisconnectionError, sa_exc.TimeoutError)):
        return True  # TimeoutError: no pooled connection free in time
    if isinstance(error, sqlite3.OperationalError):
        # SQLite's OperationalError also covers "no such table", so only busy/locked counts.
        return any(m in str(error).lower() for m in SQLITE_BUSY_MESSAGES)
    state = _sqlstate(error)
    if state and (state in TRANSIENT_SQLSTATES or state[:2] in TRANSIENT_SQLSTATE_CLASSES):
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency; SQLite-only installs may lack it
        psycopg = None  # type: ignore[assignment]
    if psycopg is not None and isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError)):
        return True
    if isinstance(error, (sa_exc.OperationalError, sa_exc.InterfaceError)):
        orig = getattr(error, "orig", None)
        # SQLAlchemy wraps the driver error; for SQLite decide on the driver error above.
        return orig is None or not isinstance(orig, sqlite3.Error) or _one_is_transient(orig)
    return isinstance(error, (ConnectionError, TimeoutError))


def is_transient(error: BaseException) -> bool:
    """True if `error`, or an error it was raised from, is transient.

    The chain is followed because handlers may wrap a driver error in their own exception.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _one_is_transient(current):
            return True
        current = current.__cause__ or current.__context__
    return False
