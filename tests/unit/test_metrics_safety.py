"""Metrics can never stop the data path: failures are logged once and counted, never raised."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str, env: dict[str, str]) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env={**os.environ, **env},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_multiprocess_directory_emptied_under_a_live_process(tmp_path: Path) -> None:
    """What gunicorn's master did to the relays on a first `make up`: the files vanish mid-use."""
    directory = tmp_path / "prom"
    directory.mkdir()
    out = _run(f"""
        import shutil
        from crm_core.metrics import FAILURES, metrics
        m = metrics()
        m.events_published.labels("contacts", "crm.contacts.contact").inc()
        shutil.rmtree({str(directory)!r})           # the master empties the directory
        m.events_published.labels("contacts", "crm.contacts.other").inc()   # a new file is needed
        m.signups.inc()
        m.event_handling.labels("contacts", "crm.x").observe(0.1)
        assert metrics() is m, "the metrics set is created once"
        print(sorted(FAILURES.counts))
    """, {"PROMETHEUS_MULTIPROC_DIR": str(directory)})
    assert "event_handling" in out  # a histogram file had to be created in the vanished directory


def test_creation_failure_gives_noop_metrics_and_is_retried(tmp_path: Path) -> None:
    missing = tmp_path / "never-created"
    out = _run(f"""
        import os
        from crm_core.metrics import FAILURES, exposition, metrics
        first = metrics()
        first.signups.inc()                          # no-op: creation failed, nothing raised
        first.http_requests.labels("a", "b", "c", "d").inc()
        assert FAILURES.counts.get("create", 0) >= 1
        os.makedirs({str(missing)!r})
        second = metrics()                           # retried, and now it works: no DuplicateTimeseries
        second.signups.inc()
        second.events_published.labels("s", "t").inc()
        assert second is metrics()
        text = exposition().decode()
        assert "crm_signups_total 1.0" in text, text
        assert 'crm_metrics_errors_total{{metric="create"}}' in text, text
        print("ok")
    """, {"PROMETHEUS_MULTIPROC_DIR": str(missing)})
    assert "ok" in out


def test_worker_processes_keep_values_in_memory(tmp_path: Path) -> None:
    directory = tmp_path / "prom"
    directory.mkdir()
    _run("""
        import os
        from crm_core.metrics import exposition, metrics, use_process_local_values
        use_process_local_values()
        assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
        metrics().events_published.labels("s", "t").inc(3)
        assert 'crm_events_published_total{service="s",topic="t"} 3.0' in exposition().decode()
    """, {"PROMETHEUS_MULTIPROC_DIR": str(directory)})
    assert list(directory.iterdir()) == [], "a worker process wrote into gunicorn's directory"


def test_registry_clash_is_all_or_nothing() -> None:
    from prometheus_client import CollectorRegistry, Counter

    from crm_core import metrics as metrics_module

    registry = CollectorRegistry()
    Counter("crm_signups_total", "taken by someone else", registry=registry)
    try:
        metrics_module._create(registry)
    except ValueError:
        pass
    else:
        raise AssertionError("a clash must be reported to metrics(), which then hands out no-ops")
    names = {name for collector in registry._collector_to_names for name in registry._collector_to_names[collector]}
    assert "crm_http_requests_total" not in names, "half-created metrics were left registered"
