"""Cross-service fixtures: the whole platform on SQLite (fast) or on PostgreSQL + Kafka + Redis (real)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_testing.platform import Platform, start_platform


@pytest.fixture(scope="module")
def embedded_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    platform = start_platform(tmp_path_factory.mktemp("embedded"))
    platform.start_workers()
    yield platform
    platform.close()


@pytest.fixture(scope="module")
def pg_platform(tmp_path_factory: pytest.TempPathFactory, pg_admin_url: str, kafka_bootstrap: str,
                redis_url: str) -> Iterator[Platform]:
    platform = start_platform(Path(tmp_path_factory.mktemp("pg")), pg_admin_url=pg_admin_url,
                              kafka_bootstrap=kafka_bootstrap, redis_url=redis_url)
    platform.start_workers()
    yield platform
    platform.close()
