from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

import gateway
from crm_core.internal_token import generate_keypair
from crm_core.settings import Settings
from crm_db.migrate import upgrade
from crm_runtime.service import migrations_dir
from crm_testing.apps import make_settings
from gateway.app import create_app


@pytest.fixture
def make_gateway(tmp_path: Path) -> Callable[..., Flask]:
    """The real gateway app on a migrated SQLite file (no services behind it: routes served here only)."""

    def make(redis_url: str | None = None, **extra: str) -> Flask:
        private, public = generate_keypair()
        settings = make_settings("gateway", tmp_path, public_key=public, private_key=private,
                                 **{"CRM_JWT_SECRET": secrets.token_urlsafe(48), **extra})
        if redis_url:
            settings = Settings(**{**settings.__dict__, "redis_url": redis_url})
        upgrade(migrations_dir(gateway.__file__), settings.database_owner_url)
        app = create_app(settings)
        app.testing = True
        return app

    return make


@pytest.fixture
def gw(make_gateway: Callable[..., Flask]) -> FlaskClient:
    return make_gateway().test_client()
