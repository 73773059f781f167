"""`make up` on the embedded default: starts, serves signup and a contact round trip, stops clean."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import urllib3

ROOT = Path(__file__).resolve().parents[2]


def _free_base_port() -> int:
    for _ in range(50):
        # Below Linux's ephemeral range (32768+), so no outgoing connection can hold one of them.
        base = random.randrange(20000, 31000, 10)
        ports = [base + i for i in range(7)] + [base + 1000 + i for i in range(7)] + [base + 2000]
        if all(_is_free(p) for p in ports):
            return base
    raise RuntimeError("no free port range")


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _processes_using(marker: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in environ:
            found.append(int(pid))
    return found


def test_make_up_serves_and_stops_clean(tmp_path: Path) -> None:
    base = _free_base_port()
    var = tmp_path / "var"
    env = {**os.environ, "CRM_PORT": str(base), "CRM_VAR_DIR": str(var)}
    for name in ("CRM_DATABASE_URL", "CRM_DATABASE_OWNER_URL", "CRM_KAFKA_BOOTSTRAP", "CRM_REDIS_URL"):
        env.pop(name, None)
    proc = subprocess.Popen([sys.executable, "scripts/up.py"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline() if proc.stdout else ""
            if not line and proc.poll() is not None:
                raise AssertionError("make up exited early:\n" + "".join(output[-50:]))
            output.append(line)
            if "CRM platform is up" in line:
                break
        else:
            raise AssertionError("make up did not start in 120 s:\n" + "".join(output[-50:]))
        _round_trip(base, proc, output)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, "".join(output[-30:])
    time.sleep(0.5)
    assert _processes_using(str(var)) == [], "child processes left running"
    assert all(_is_free(base + i) for i in [*range(7), 2000]), "a port is still listening"


def _round_trip(base: int, proc: subprocess.Popen[str], output: list[str]) -> None:
    try:
        http = urllib3.PoolManager()
        gateway = f"http://127.0.0.1:{base}"
        signup = http.request("POST", gateway + "/v1/signup", json={"company": "Up Co", "email": "up@example.com",
                                                                    "password": "correct horse battery"})
        assert signup.status == 201, signup.data
        auth = {"Authorization": f"Bearer {signup.json()['access_token']}"}
        created = http.request("POST", gateway + "/v1/contacts", json={"first_name": "Round", "email": "trip@example.com"},
                               headers=auth)
        assert created.status == 201, created.data
        got = http.request("GET", gateway + created.headers["Location"], headers=auth)
        assert got.status == 200 and got.json()["email"] == "trip@example.com"
        assert http.request("GET", gateway + "/docs").status == 200
        # The gateway's metrics: never on the public port, on the internal listener (gunicorn's second bind).
        assert http.request("GET", gateway + "/metrics").status == 404
        internal = http.request("GET", f"http://127.0.0.1:{base + 2000}/metrics")
        assert internal.status == 200 and b"crm_http_requests_total" in internal.data
        assert http.request("GET", gateway + "/readyz").json() == {"status": "ready"}
    except Exception as exc:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=40)
        raise AssertionError(f"round trip failed: {exc!r}\nmake up said:\n" + "".join(output[-40:]) + rest[-4000:]) from exc
