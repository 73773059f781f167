"""The test servers are real and configured like production where it matters.

Postgres: the app role can query but not do DDL, is not superuser, and is
subject to row-level security. Kafka: an idempotent acks=all producer and a
consumer group round-trip a message. Redis: set/get.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
import redis
from kafka import KafkaConsumer, KafkaProducer
from psycopg import sql

from crm_testing import create_service_database
from crm_testing.db import libpq_url

pytestmark = pytest.mark.integration

DB_NAME = "crm_infra_selftest"


@pytest.fixture(scope="module")
def service_db(pg_admin_url: str) -> Iterator[tuple[str, str]]:
    yield create_service_database(pg_admin_url, DB_NAME)
    _drop_database(pg_admin_url, DB_NAME)


def _drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _connect(url: str) -> psycopg.Connection:
    return psycopg.connect(libpq_url(url), autocommit=True)


def test_urls_are_sqlalchemy_psycopg_urls(service_db: tuple[str, str]) -> None:
    owner_url, app_url = service_db
    assert owner_url.startswith(f"postgresql+psycopg://{DB_NAME}_owner:owner@")
    assert app_url.startswith(f"postgresql+psycopg://{DB_NAME}_app:app@")
    assert owner_url.endswith(f"/{DB_NAME}") and app_url.endswith(f"/{DB_NAME}")


def test_app_role_answers_select_1(service_db: tuple[str, str]) -> None:
    with _connect(service_db[1]) as conn:
        assert conn.execute("select 1").fetchone() == (1,)


def test_app_role_is_not_superuser_and_cannot_bypass_rls(service_db: tuple[str, str]) -> None:
    with _connect(service_db[1]) as conn:
        row = conn.execute("select rolsuper, rolbypassrls from pg_roles where rolname = current_user").fetchone()
    assert row == (False, False)


def test_owner_role_is_not_superuser_and_cannot_bypass_rls(service_db: tuple[str, str]) -> None:
    with _connect(service_db[0]) as conn:
        row = conn.execute("select rolsuper, rolbypassrls from pg_roles where rolname = current_user").fetchone()
    assert row == (False, False)


def test_app_role_cannot_create_table_in_public(service_db: tuple[str, str]) -> None:
    with _connect(service_db[1]) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("create table public.app_must_not_create (id int)")


def test_owner_tables_are_usable_by_app_and_rls_applies(service_db: tuple[str, str]) -> None:
    owner_url, app_url = service_db
    with _connect(owner_url) as conn:
        # FORCE makes the policy apply to the table owner too, as the services' migrations do.
        conn.execute(
            """
            create table notes (id bigserial primary key, tenant text not null, body text not null);
            alter table notes enable row level security;
            alter table notes force row level security;
            create policy tenant_isolation on notes
                using (tenant = current_setting('app.tenant', true))
                with check (tenant = current_setting('app.tenant', true));
            """
        )
    with _connect(app_url) as conn:
        conn.execute("select set_config('app.tenant', 'a', false)")
        conn.execute("insert into notes (tenant, body) values ('a', 'mine')")  # default privileges + sequence usage
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("insert into notes (tenant, body) values ('b', 'not mine')")
        conn.execute("select set_config('app.tenant', 'b', false)")
        assert conn.execute("select count(*) from notes").fetchone() == (0,)
        conn.execute("select set_config('app.tenant', 'a', false)")
        assert conn.execute("select tenant, body from notes").fetchall() == [("a", "mine")]


def test_pg_trgm_is_installed(service_db: tuple[str, str]) -> None:
    with _connect(service_db[1]) as conn:
        assert conn.execute("select similarity('müller', 'muller') > 0").fetchone() == (True,)


def test_create_service_database_is_repeatable(pg_admin_url: str) -> None:
    name = "crm_infra_selftest_again"
    try:
        create_service_database(pg_admin_url, name)
        owner_url, app_url = create_service_database(pg_admin_url, name)  # drops and recreates
        with _connect(app_url) as conn:
            assert conn.execute("select current_database()").fetchone() == (name,)
    finally:
        _drop_database(pg_admin_url, name)


@pytest.mark.parametrize("bad", ["Crm", "1crm", "crm-db", "crm;drop", "", "x" * 58])
def test_create_service_database_rejects_unsafe_names(bad: str) -> None:
    with pytest.raises(ValueError):
        create_service_database("postgresql://unused@127.0.0.1:1/postgres", bad)


def test_kafka_round_trip_with_idempotent_producer_and_group(kafka_bootstrap: str) -> None:
    topic = f"crm-selftest-{uuid.uuid4().hex[:12]}"
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    try:
        # The topic does not exist yet: this also proves auto.create.topics.enable works.
        producer.send(topic, key=b"k", value=b"hello").get(timeout=30)
        producer.flush()
    finally:
        producer.close()
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"crm-selftest-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=30_000,  # iteration ends after this long without a record
    )
    try:
        received = next(iter(consumer), None)
    finally:
        consumer.close()
    assert received is not None, "no record consumed within 30s"
    assert (received.key, received.value) == (b"k", b"hello")


def test_redis_set_get(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    key = f"crm-selftest:{uuid.uuid4().hex}"
    try:
        assert client.set(key, "value", ex=60)
        assert client.get(key) == b"value"
    finally:
        client.delete(key)
        client.close()
