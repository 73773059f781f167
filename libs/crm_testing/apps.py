"""Harnesses for testing a service in-process: migrated database, real Flask app, minted tokens.

Tests call the service exactly as the gateway does (internal token header), and drive the relay
and consumers one step at a time against a real event log (embedded or Kafka).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import MetaData

from crm_core.context import WORKFLOW_ROLE, Principal
from crm_core.internal_token import CAUSATION_HEADER, HEADER, ORIGIN_HEADER, InternalTokenSigner, generate_keypair
from crm_core.scopes import ALL_SCOPES
from crm_core.settings import Settings
from crm_db.database import Database
from crm_db.migrate import upgrade
from crm_events.consumer import ConsumerRunner, Handler
from crm_events.log import open_publisher, open_subscriber
from crm_events.relay import OutboxRelay
from crm_testing.db import drop_service_database, migrated_copy


@dataclass
class ServiceHarness:
    settings: Settings
    app: Flask
    client: FlaskClient
    signer: InternalTokenSigner
    metadata: MetaData
    tenants: dict[str, uuid.UUID] = field(default_factory=dict)

    def tenant(self, name: str) -> uuid.UUID:
        """A stable tenant id per name within one harness ("a", "b", ...)."""
        return self.tenants.setdefault(name, uuid.uuid4())

    def headers(self, tenant: uuid.UUID | str, scopes: Iterable[str] = ALL_SCOPES, roles: Iterable[str] = ("owner",),
                user_id: uuid.UUID | None = None, request_id: str = "test-request") -> dict[str, str]:
        tid = self.tenant(tenant) if isinstance(tenant, str) else tenant
        principal = Principal(tid, user_id or uuid.uuid5(tid, "user"), tuple(roles), tuple(scopes))
        return {HEADER: self.signer.mint(principal, self.settings.service), "X-Request-Id": request_id}

    def workflow_headers(self, tenant: uuid.UUID | str, causation: Iterable[str] = (), *, origin: str | None = "workflow",
                         request_id: str = "test-request") -> dict[str, str]:
        """As a workflow run calls (automation.workflows.client): the `workflow` principal (no
        user, no API key, every scope) with its origin and causation headers."""
        tid = self.tenant(tenant) if isinstance(tenant, str) else tenant
        principal = Principal(tid, roles=(WORKFLOW_ROLE,), scopes=ALL_SCOPES)
        headers = {HEADER: self.signer.mint(principal, self.settings.service), "X-Request-Id": request_id,
                   CAUSATION_HEADER: ",".join(causation)}
        if origin is not None:
            headers[ORIGIN_HEADER] = origin
        return headers

    @property
    def db(self) -> Database:
        return self.app.extensions["crm_runtime"].db

    def relay(self) -> OutboxRelay:
        return OutboxRelay(self.settings.service, self.db, open_publisher(self.settings), self.metadata)

    def publish_outbox(self) -> int:
        relay, total = self.relay(), 0
        while (n := relay.publish_batch()):
            total += n
        relay.publisher.close()
        return total

    def consumer(self, group: str, topics: list[str], handlers: dict[str, Handler]) -> ConsumerRunner:
        return ConsumerRunner(self.settings.service, group, self.db, self.metadata,
                              open_subscriber(self.settings, group, topics), open_publisher(self.settings), handlers,
                              retry_delay=0.01)


def make_settings(service: str, var_dir: Path, *, database_url: str | None = None, owner_url: str | None = None,
                  kafka_bootstrap: str | None = None, public_key: str | None = None,
                  private_key: str | None = None, kafka_topic_prefix: str = "", **extra: str) -> Settings:
    url = database_url or f"sqlite:///{var_dir / (service + '.db')}"
    return Settings.from_env(
        service, database_url=url, database_owner_url=owner_url or url, kafka_bootstrap=kafka_bootstrap,
        var_dir=var_dir, internal_public_key=public_key, internal_private_key=private_key, redis_url=None,
        metrics_port=0, kafka_topic_prefix=kafka_topic_prefix, extra=dict(extra),
    )


_SQLITE_TEMPLATES: dict[Path, Path] = {}


def _migrated_sqlite(migrations: Path) -> Path:
    found = _SQLITE_TEMPLATES.get(migrations)
    if found is None:
        folder = Path(tempfile.mkdtemp(prefix="crm-sqlite-template-"))
        atexit.register(shutil.rmtree, folder, True)
        found = folder / "migrated.db"
        upgrade(migrations, f"sqlite:///{found}")
        _SQLITE_TEMPLATES[migrations] = found
    return found


def make_harness(
    service: str,
    create_app: Callable[[Settings], Flask],
    metadata: MetaData,
    migrations: Path,
    var_dir: Path,
    *,
    database_url: str | None = None,
    owner_url: str | None = None,
    kafka_bootstrap: str | None = None,
    **extra: str,
) -> ServiceHarness:
    private_pem, public_pem = generate_keypair()
    settings = make_settings(service, var_dir, database_url=database_url, owner_url=owner_url,
                             kafka_bootstrap=kafka_bootstrap, public_key=public_pem, **extra)
    fresh_sqlite = database_url is None and not (var_dir / f"{service}.db").exists()
    if fresh_sqlite:
        # A copy of a database migrated once per process: running every migration for each test
        # costs a third of a second, hundreds of times over.
        var_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_migrated_sqlite(migrations), var_dir / f"{service}.db")
    else:
        upgrade(migrations, settings.database_owner_url)
    app = create_app(settings)
    app.testing = True
    return ServiceHarness(settings, app, app.test_client(), InternalTokenSigner.from_pem(private_pem), metadata)


def drain(runner: ConsumerRunner, *, idle_polls: int = 2, timeout: float = 0.2, max_polls: int = 200) -> int:
    """Poll until `idle_polls` consecutive polls return nothing; returns records seen."""
    seen, idle = 0, 0
    for _ in range(max_polls):
        n = runner.run_once(timeout)
        seen += n
        idle = idle + 1 if n == 0 else 0
        if idle >= idle_polls:
            break
    return seen


def pg_harness(service: str, create_app: Callable[[Settings], Flask], metadata: MetaData, migrations: Path,
               tmp_path: Path, pg_admin_url: str) -> Iterator[ServiceHarness]:
    """A service on its own throwaway PostgreSQL database, as production runs it (migrated by the
    owner role, served by the app role under RLS): a copy of one database migrated once per test
    process; dropped afterwards. For a generator fixture: `yield from pg_harness(...)`."""
    owner_url, app_url, name = migrated_copy(pg_admin_url, service, lambda url: upgrade(migrations, url))
    svc = make_harness(service, create_app, metadata, migrations, tmp_path, database_url=app_url, owner_url=owner_url)
    try:
        yield svc
    finally:
        svc.db.dispose()
        drop_service_database(pg_admin_url, name)
