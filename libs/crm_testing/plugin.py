"""pytest plugin: real PostgreSQL, Kafka and Redis as session-scoped fixtures.

Enable with ``pytest_plugins = ["crm_testing.plugin"]`` or ``-p crm_testing.plugin``.

Each fixture resolves its server as: ``CRM_TEST_*`` env var -> Docker container
(if an engine answers) -> local process started by ``infra/servers.py``. When
nothing works the dependent tests are skipped, except under ``CI=true`` where a
silently skipped integration suite would be a false green, so they fail.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

from crm_testing.provision import KAFKA, POSTGRES, REDIS, Provided, Spec, Unavailable, provide

_SOURCES = pytest.StashKey[dict[str, str]]()


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def missing(reason: str, ci_reason: str | None = None) -> NoReturn:
    """A test's real part is missing: skip it, except under CI=true, where a silent skip would be a
    false green, so it fails (with `ci_reason` when given)."""
    if in_ci():
        pytest.fail(ci_reason or reason, pytrace=False)
    pytest.skip(reason)


def _unavailable(spec: Spec, reason: str) -> NoReturn:
    missing(f"{spec.name} unavailable (set {spec.env_var}, start Docker, or install it locally): {reason}",
            f"{spec.name} is required when CI=true but could not be provisioned (or set {spec.env_var}):\n{reason}")


def _provide_or_bail(spec: Spec) -> Provided:
    try:
        return provide(spec)
    except Unavailable as exc:
        reason = str(exc)
    _unavailable(spec, reason)  # outside `except`: keeps the chained traceback out of the report


def _session_server(request: pytest.FixtureRequest, spec: Spec) -> str:
    provided = _provide_or_bail(spec)
    # Registered right away so a later fixture failure still stops what we started;
    # release never stops servers given by env or started with `servers.py start`.
    request.addfinalizer(provided.release)
    request.config.stash.setdefault(_SOURCES, {})[spec.name] = f"{provided.source} {provided.value}"
    return provided.value


@pytest.fixture(scope="session")
def pg_admin_url(request: pytest.FixtureRequest) -> str:
    """Superuser DSN, e.g. ``postgresql://postgres@127.0.0.1:5432/postgres``."""
    return _session_server(request, POSTGRES)


@pytest.fixture(scope="session")
def kafka_bootstrap(request: pytest.FixtureRequest) -> str:
    """Bootstrap servers of a single-node KRaft broker, e.g. ``127.0.0.1:9092``."""
    return _session_server(request, KAFKA)


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest) -> str:
    """``redis://127.0.0.1:<port>/0`` of a throwaway Redis (no persistence)."""
    return _session_server(request, REDIS)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    # Which source each server came from is the first question when CI behaves
    # differently from a laptop.
    sources = config.stash.get(_SOURCES, {})
    if sources:
        terminalreporter.write_sep("-", "crm_testing servers")
        for name, source in sorted(sources.items()):
            terminalreporter.write_line(f"{name}: {source}")
