from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from psycopg import sql

import gateway
from crm_core.internal_token import generate_keypair
from crm_core.settings import Settings
from crm_db.migrate import upgrade
from crm_runtime.service import migrations_dir
from crm_testing.apps import make_settings
from crm_testing.db import create_service_database, libpq_url
from gateway.app import create_app


@pytest.fixture
def make_gateway(tmp_path: Path) -> Callable[..., Flask]:
    """The real gateway app on a migrated SQLite file (no services behind it: routes served here only)."""

    def make(redis_url: str | None = None, urls: tuple[str, str] | None = None, **extra: str) -> Flask:
        """`urls`: (owner, app) of a PostgreSQL database instead of SQLite."""
        private, public = generate_keypair()
        owner_url, app_url = urls or (None, None)
        settings = make_settings("gateway", tmp_path, public_key=public, private_key=private, database_url=app_url,
                                 owner_url=owner_url, **{"CRM_JWT_SECRET": secrets.token_urlsafe(48), **extra})
        if redis_url:
            settings = Settings(**{**settings.__dict__, "redis_url": redis_url})
        upgrade(migrations_dir(gateway.__file__), settings.database_owner_url)
        app = create_app(settings)
        app.testing = True
        return app

    return make


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def make_any_gateway(request: pytest.FixtureRequest, make_gateway: Callable[..., Flask]) -> Iterator[Callable[..., Flask]]:
    """make_gateway on SQLite, then on a throwaway PostgreSQL database (app role)."""
    if request.param == "sqlite":
        yield make_gateway
        return
    admin = request.getfixturevalue("pg_admin_url")
    name = f"gateway_{uuid.uuid4().hex[:10]}"
    urls = create_service_database(admin, name)

    def make(**extra: str) -> Flask:
        return make_gateway(urls=urls, **extra)

    yield make  # FORCE ends the apps' pooled connections
    with psycopg.connect(libpq_url(admin), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def gw(make_gateway: Callable[..., Flask]) -> FlaskClient:
    return make_gateway().test_client()
