"""CRM_WEB_SERVER: the contacts service (SQLite) under gunicorn and under granian, two workers each.

For both servers, as `python -m crm_runtime.web` (what `python -m <service> web` runs) starts them:
stale multiprocess files are gone at start; requests reach two workers and /metrics sums them; a
killed worker is replaced and its counts stay in /metrics; a dead process's live-gauge files are
released; SIGTERM during a slow request lets it finish; nothing logs an error.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import urllib3

from crm_core.context import Principal
from crm_core.internal_token import HEADER, InternalTokenSigner, generate_keypair

ROOT = Path(__file__).resolve().parents[2]
ERROR_LINE = re.compile(r'"level": "(error|critical)"|Traceback|\[ERROR\]|\[CRITICAL\]|DuplicateTimeseries')
DEAD_PID = 999_999_999  # above any pid_max: never a running process


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _requests_total(body: str, route: str) -> float:
    pattern = re.compile(r'^crm_http_requests_total\{([^}]*)\} ([0-9.e+]+)$', re.MULTILINE)
    return sum(float(v) for labels, v in pattern.findall(body) if f'route="{route}"' in labels)


@pytest.mark.parametrize("server", ["gunicorn", "granian"])
def test_web_server_metrics_recycling_and_graceful_stop(server: str, tmp_path: Path) -> None:
    private, public = generate_keypair()
    prom = tmp_path / "prometheus"
    prom.mkdir()
    (prom / "counter_1.db").write_bytes(b"stale garbage from a previous run")
    env = {k: v for k, v in os.environ.items()
           if k not in ("CRM_DATABASE_URL", "CRM_DATABASE_OWNER_URL", "CRM_KAFKA_BOOTSTRAP", "CRM_REDIS_URL",
                        "CRM_INTERNAL_PORT", "GUNICORN_BIND")}
    env.update({"CRM_WEB_SERVER": server, "CRM_VAR_DIR": str(tmp_path), "CRM_INTERNAL_PUBLIC_KEY": public,
                "PROMETHEUS_MULTIPROC_DIR": str(prom), "GUNICORN_WORKERS": "2", "GUNICORN_THREADS": "2",
                "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "e2e"), env.get("PYTHONPATH", "")])})
    subprocess.run([sys.executable, "-m", "contacts", "migrate"], env=env, cwd=ROOT, check=True, timeout=120,
                   capture_output=True)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "web.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "crm_runtime.web", "--bind", f"127.0.0.1:{port}",
                                 "web_server_app:create_app()"], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    token = InternalTokenSigner.from_pem(private).mint(
        Principal(uuid.uuid4(), uuid.uuid4(), ("owner",), ("contacts:read",)), "contacts")
    http = urllib3.PoolManager(retries=False, timeout=10)

    def slow(seconds: float = 0) -> int:
        answer = http.request("GET", f"{base}/_test/slow?s={seconds}", headers={HEADER: token, "Connection": "close"})
        assert answer.status == 200, answer.data
        return int(answer.json()["pid"])

    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if http.request("GET", base + "/healthz", timeout=1).status == 200:
                    break
            except urllib3.exceptions.HTTPError:
                pass
            assert time.monotonic() < deadline, "no answer in 60 s:\n" + log.read_text()
            time.sleep(0.2)
        assert not (prom / "counter_1.db").exists(), "the multiprocess directory was not emptied at start"

        # Two workers answer; /metrics (served by either) counts every request of both.
        pids: list[int] = []
        while len(set(pids)) < 2 and len(pids) < 300:
            pids.append(slow())
        assert len(set(pids)) == 2, f"one worker answered all {len(pids)} requests"
        text = http.request("GET", base + "/metrics").data.decode()
        assert _requests_total(text, "/_test/slow") == len(pids), text[:2000]

        # A worker that dies is replaced; what it counted stays in the sum.
        killed_at = log.stat().st_size  # the server may log the deliberate kill: not counted below
        os.kill(pids[0], signal.SIGKILL)
        answered, replaced, deadline = len(pids), False, time.monotonic() + 30
        while not replaced:
            assert time.monotonic() < deadline, "the killed worker was not replaced:\n" + log.read_text()
            try:
                pid = slow()
            except urllib3.exceptions.HTTPError:  # a connection the dead worker had accepted
                time.sleep(0.2)
                continue
            answered, replaced = answered + 1, pid not in pids
        replaced_at = log.stat().st_size
        assert _requests_total(http.request("GET", base + "/metrics").data.decode(), "/_test/slow") == answered

        # Live gauges of a process that is gone are released (gunicorn: child_exit; granian: the sweep).
        if server == "granian":
            (prom / f"gauge_livesum_{DEAD_PID}.db").write_bytes(b"")
            deadline = time.monotonic() + 15
            while (prom / f"gauge_livesum_{DEAD_PID}.db").exists():
                assert time.monotonic() < deadline, "a dead pid's live gauge file was not released"
                time.sleep(0.2)

        # SIGTERM while a request is in flight: it finishes, then the server exits cleanly.
        result: dict[str, int] = {}
        inflight = threading.Thread(target=lambda: result.update(pid=slow(3)))
        inflight.start()
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGTERM)
        inflight.join(timeout=20)
        assert result.get("pid"), "the in-flight request did not finish:\n" + log.read_text()
        assert proc.wait(timeout=40) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = log.read_bytes()
    logged = (text[:killed_at] + text[replaced_at:]).decode()
    errors = [line for line in logged.splitlines() if ERROR_LINE.search(line)]
    assert errors == [], "the server logged errors:\n" + "\n".join(errors[:20])
