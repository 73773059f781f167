"""What a service is made of at run time, built by its create_app / worker (never at import)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Flask
from sqlalchemy import MetaData, Table

from crm_core.internal_token import InternalTokenVerifier
from crm_core.settings import Settings
from crm_db.database import Database
from crm_db.roles import check_app_role
from crm_events.log import check_event_log
from crm_events.outbox import Outbox
from crm_http.app import create_base_app
from crm_http.auth import internal_token_auth
from crm_http.idempotency import idempotency_table
from crm_http.openapi import ApiDoc


@dataclass
class ServiceRuntime:
    settings: Settings
    metadata: MetaData
    db: Database
    outbox: Outbox
    doc: ApiDoc

    @classmethod
    def build(cls, settings: Settings, metadata: MetaData, *, pool_size: int = 10) -> ServiceRuntime:
        return cls(
            settings=settings,
            metadata=metadata,
            db=Database(settings.database_url, pool_size=pool_size),
            outbox=Outbox(settings.service, metadata),
            doc=ApiDoc(f"CRM {settings.service} API"),
        )

    @property
    def idempotency(self) -> Table:
        return idempotency_table(self.metadata)


def create_service_app(
    settings: Settings,
    metadata: MetaData,
    register: Callable[[Blueprint, ServiceRuntime], None],
) -> Flask:
    """The composition root shared by domain services: database, outbox, auth, routes, docs."""
    if not settings.internal_public_key:
        raise RuntimeError("CRM_INTERNAL_PUBLIC_KEY(_FILE) is required: services only trust the gateway's tokens")
    runtime = ServiceRuntime.build(settings, metadata)
    check_app_role(runtime.db.engine, settings.service)
    verifier = InternalTokenVerifier.from_pem(settings.internal_public_key, audience=settings.service)

    def database() -> None:
        runtime.db.ping()

    def event_log() -> None:
        check_event_log(settings)

    app = create_base_app(settings, authenticate=internal_token_auth(verifier), readiness=[database, event_log])
    bp = Blueprint(settings.service, __name__)
    register(bp, runtime)
    app.register_blueprint(bp)
    spec = runtime.doc.spec()
    app.add_url_rule("/openapi.json", "openapi", lambda: spec)
    app.extensions["crm_runtime"] = runtime
    return app


def migrations_dir(package_file: str) -> Path:
    """services/<name>/migrations, from the service package's __file__."""
    return Path(package_file).resolve().parents[1] / "migrations"
