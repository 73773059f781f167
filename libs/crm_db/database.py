"""Engine, session factory and unit of work for one service database."""

from __future__ import annotations

import contextlib
import logging
import random
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from crm_core.jsoncodec import loads as json_loads
from crm_core.jsoncodec import psycopg_json_loader
from crm_db import tenancy
from crm_db.tenancy import PREFETCH, Prefetch, deferred, flush_deferred

log = logging.getLogger(__name__)

# SQLite waits this long inside one BEGIN IMMEDIATE; _sqlite_begin retries past it up to the deadline.
SQLITE_BUSY_TIMEOUT_MS = 5000
SQLITE_BEGIN_DEADLINE_SECONDS = 30.0


class TenantSession(Session):
    """A Session whose queries are scoped to the tenant in context."""


tenancy.install(TenantSession)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # The driver's own transaction handling starts a deferred transaction at the first write;
    # we begin every transaction ourselves instead (_sqlite_begin).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def is_sqlite_busy(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", exc)
    return isinstance(orig, sqlite3.OperationalError) and ("locked" in str(orig) or "busy" in str(orig))


def _sqlite_begin(conn: Connection) -> None:
    """BEGIN IMMEDIATE: take the write lock up front, retried while another process holds it.

    Web, relay and worker processes write one file. A deferred transaction that reads and then
    writes cannot wait for the lock (SQLite answers "database is locked" at once, since its
    snapshot is stale), while one that holds the write lock from its start never meets that:
    the only place it can be told "busy" is this BEGIN, where nothing has been done yet, so
    retrying it is always safe.
    """
    deadline = time.monotonic() + SQLITE_BEGIN_DEADLINE_SECONDS
    delay = 0.01
    while True:
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except OperationalError as exc:
            if not is_sqlite_busy(exc) or time.monotonic() + delay > deadline:
                raise
            log.debug("sqlite busy at BEGIN; retrying in %.2fs", delay)
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 0.5)


def make_engine(url: str, *, pool_size: int = 10, **kwargs: Any) -> Engine:
    # JSON columns parsed with orjson (a sixth of a contacts list page's CPU with json).
    kwargs.setdefault("json_deserializer", json_loads)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False,
                                                  "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        tenancy.install_engine(engine)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if "poolclass" not in kwargs:
        kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800)
    # psycopg prepares a statement from its 5th run on a connection, and PostgreSQL then may switch
    # to a generic plan that can't see which tenant it serves: for a big tenant it sorts every
    # match instead of walking an index (62 ms instead of 1.5 ms in the list bench). Plans are
    # cheap next to that, so always plan for the actual parameters.
    connect_args = kwargs.setdefault("connect_args", {})
    connect_args.setdefault("options", "-c plan_cache_mode=force_custom_plan")
    engine = create_engine(url, **kwargs)
    if engine.dialect.driver == "psycopg" and kwargs["json_deserializer"] is json_loads:
        event.listen(engine, "connect", _json_loaders)
    tenancy.install_engine(engine)
    return engine


def _json_loaders(dbapi_conn: Any, _record: Any) -> None:
    # JSON columns decoded by one loader doing jsoncodec.loads itself (a tenth of a list page's
    # CPU went to the layers between psycopg and orjson).
    loader = psycopg_json_loader()
    for name in ("json", "jsonb"):
        dbapi_conn.adapters.register_loader(name, loader)


class Database:
    """One service's database: `with db.transaction() as s:` commits on success, rolls back on error."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size)
        self.sessions = sessionmaker(self.engine, class_=TenantSession, expire_on_commit=False)

    @contextlib.contextmanager
    def transaction(self, prefetch: Sequence[Prefetch] = ()) -> Iterator[Session]:
        """`prefetch`: reads sent with BEGIN (tenancy.Prefetch). Writes queued with tenancy.defer go
        out with the COMMIT: on PostgreSQL both are one round trip each (psycopg pipeline mode)."""
        with self.sessions() as session:
            if prefetch:
                session.info[PREFETCH] = prefetch
            with session.begin():
                if prefetch:
                    session.connection()  # BEGIN and the reads now, before the code that looks for them
                yield session
                if deferred(session):
                    _pipelined_commit(session)

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("select 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def _pipelined_commit(session: Session) -> None:
    """The queued writes and the COMMIT in one round trip on PostgreSQL (psycopg pipeline mode).

    ORM changes are flushed first, outside the pipeline: the unit of work reads row counts (the
    version check) as it goes. The queued statements return no rows, so nothing waits for them
    until the pipeline's closing sync. An error in any of them (a unique violation, say) skips
    the COMMIT, surfaces as the usual SQLAlchemy exception, and the transaction rolls back with
    the row and its event.
    """
    session.flush()
    conn = session.connection()
    raw = conn.connection.driver_connection
    if conn.dialect.name != "postgresql" or not hasattr(raw, "pipeline"):
        flush_deferred(session)
        return
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        with raw.pipeline():
            flush_deferred(session)
            # Not raw.commit(): in a pipeline it syncs on its own, and the pipeline's exit syncs
            # again. Queued like the rest, it rides on the exit's sync; the session's commit
            # below then finds the transaction over and sends nothing.
            raw.execute("COMMIT")
    except dbapi_error as exc:
        raise DBAPIError.instance(None, None, exc, dbapi_error) from exc
    session.commit()
