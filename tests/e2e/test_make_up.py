"""`make up` on the embedded default: starts, serves signup and a contact round trip, stops clean;
under either web server (CRM_WEB_SERVER=gunicorn, the default, or granian)."""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
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


def _fresh_clone(tmp_path: Path) -> Path:
    """What a newcomer has: a clone of the committed tree with an empty var/ (the venv is shared,
    since it is built from the same lockfile)."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(clone)], check=True, timeout=120)
    (clone / ".venv").symlink_to(ROOT / ".venv")
    assert not (clone / "var").exists()
    return clone


ERROR_LINE = re.compile(r'"level": "(error|critical)"|Traceback|\[ERROR\]|\[CRITICAL\]|DuplicateTimeseries')


@pytest.mark.parametrize("server", ["gunicorn", "granian"])
def test_first_make_up_in_a_fresh_clone(tmp_path: Path, server: str) -> None:
    """The first start of a fresh clone: events flow at once, the README works, nothing logs an error."""
    clone = _fresh_clone(tmp_path)
    base = _free_base_port()
    env = {**os.environ, "CRM_PORT": str(base), "CRM_WEB_SERVER": server}
    for name in ("CRM_DATABASE_URL", "CRM_DATABASE_OWNER_URL", "CRM_KAFKA_BOOTSTRAP", "CRM_REDIS_URL", "CRM_VAR_DIR",
                 "PROMETHEUS_MULTIPROC_DIR", "GUNICORN_BIND", "MAKEFLAGS", "MFLAGS"):
        env.pop(name, None)
    proc = subprocess.Popen(["make", "up"], cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not any("CRM platform is up" in line for line in list(output)):
            assert proc.poll() is None, "make up exited early:\n" + "".join(output[-50:])
            assert time.monotonic() < deadline, "make up did not start in 120 s:\n" + "".join(output[-50:])
            time.sleep(0.1)
        _first_minutes(base, output)
        _readme_quickstart(clone, base, output)
        time.sleep(1.0)  # let the workers log whatever the traffic made them log
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        reader.join(timeout=5)
    # Ctrl-C reaches the whole group, as in a terminal: make itself dies of SIGINT once up.py is done
    assert proc.returncode in (0, -signal.SIGINT), "".join(output[-30:])
    assert any(line.startswith("stopping") for line in output), "".join(output[-30:])
    banner = "Starting granian" if server == "granian" else "Starting gunicorn"
    assert any(banner in line for line in output), f"no {banner!r} line: the web server was not {server}"
    errors = [line for line in output if ERROR_LINE.search(line)]
    assert errors == [], "the first start logged errors:\n" + "".join(errors[:20])
    time.sleep(0.5)
    assert _processes_using(str(clone)) == [], "child processes left running"
    assert all(_is_free(base + i) for i in [*range(7), 2000]), "a port is still listening"


def _first_minutes(base: int, output: list[str]) -> None:
    """Sign up; the default pipeline is there at once, a new contact reaches the summary within 5 s."""
    http = urllib3.PoolManager()
    gateway = f"http://127.0.0.1:{base}"
    started = time.monotonic()
    signup = http.request("POST", gateway + "/v1/signup", json={"company": "Up Co", "email": "up@example.com",
                                                                "password": "correct horse battery"})
    assert signup.status == 201, signup.data
    auth = {"Authorization": f"Bearer {signup.json()['access_token']}"}
    pipelines = http.request("GET", gateway + "/v1/pipelines", headers=auth).json()["data"]
    assert [(p["name"], p["is_default"]) for p in pipelines] == [("Sales", True)]
    assert time.monotonic() - started < 2.0, "the default pipeline took more than 2 s after signup"

    created_at = time.monotonic()
    created = http.request("POST", gateway + "/v1/contacts", json={"first_name": "Round", "email": "trip@example.com"},
                           headers=auth)
    assert created.status == 201, created.data
    got = http.request("GET", gateway + created.headers["Location"], headers=auth)
    assert got.status == 200 and got.json()["email"] == "trip@example.com"
    summary: dict = {}
    while time.monotonic() - created_at < 5.0:
        summary = http.request("GET", gateway + "/v1/reports/summary", headers=auth).json()
        if summary.get("contacts") == 1:
            break
        time.sleep(0.05)
    assert summary.get("contacts") == 1, f"the contact did not reach the summary within 5 s: {summary}\n" + "".join(output[-30:])
    # the event also provisioned nothing twice
    assert len(http.request("GET", gateway + "/v1/pipelines", headers=auth).json()["data"]) == 1
    assert http.request("GET", gateway + "/docs").status == 200
    # The gateway's metrics: never on the public port, on the internal listener (a second bind).
    assert http.request("GET", gateway + "/metrics").status == 404
    internal = http.request("GET", f"http://127.0.0.1:{base + 2000}/metrics")
    assert internal.status == 200 and b"crm_http_requests_total" in internal.data
    assert http.request("GET", gateway + "/readyz").json() == {"status": "ready"}


def _readme_quickstart(clone: Path, base: int, output: list[str]) -> None:
    """The README's curl quickstart, run as written (but for `make up &`, which is already running)."""
    readme = (clone / "README.md").read_text()
    block = readme.split("## Quickstart with curl", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    lines = [line for line in block.splitlines() if not line.startswith("make up")]
    script = "set -eu\n" + "\n".join(lines).replace("GW=http://127.0.0.1:8080", f"GW=http://127.0.0.1:{base}")
    script = script.replace("ada@acme.example", "quickstart@acme.example")
    result = subprocess.run(["bash", "-c", script], cwd=clone, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"email": "grace@example.com"' in result.stdout or '"email":"grace@example.com"' in result.stdout, result.stdout
    assert '"contacts"' in result.stdout and '"key": "crm_' in result.stdout.replace('"key":"', '"key": "'), result.stdout
