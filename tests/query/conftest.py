"""Databases for the crm_query tests: SQLite files and one throwaway PostgreSQL database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from query_support import Base, insert_rows, make_rows, sqlite_engine
from sqlalchemy import Engine, create_engine

from crm_testing.db import create_service_database, libpq_url


@pytest.fixture(scope="session")
def rows() -> list[dict[str, Any]]:
    return make_rows()


@pytest.fixture(scope="module")
def sqlite_items(tmp_path_factory: pytest.TempPathFactory, rows: list[dict[str, Any]]) -> Iterator[Engine]:
    engine = sqlite_engine(str(tmp_path_factory.mktemp("query") / "items.db"))
    insert_rows(engine, rows)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def pg_database(pg_admin_url: str) -> Iterator[str]:
    """Owner URL of a fresh database; dropped (with its roles) at the end of the session."""
    name = f"query_test_{uuid.uuid4().hex[:10]}"
    owner_url, _app_url = create_service_database(pg_admin_url, name)
    yield owner_url
    with psycopg.connect(libpq_url(pg_admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        for role in (f"{name}_owner", f"{name}_app"):
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.fixture(scope="session")
def pg_items(pg_database: str, rows: list[dict[str, Any]]) -> Iterator[Engine]:
    engine = create_engine(pg_database)
    Base.metadata.create_all(engine)
    insert_rows(engine, rows)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_path(tmp_path: Path) -> str:
    return str(tmp_path / "scratch.db")
