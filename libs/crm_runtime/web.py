"""The web server of every CRM web process: gunicorn (the default) or granian, by CRM_WEB_SERVER.

`python -m crm_runtime.web [--bind ADDR]... '<module>:<factory>()'` is what `python -m <service> web`,
`make up` (through it) and `make bench` run. Both servers read the same settings from
deploy/gunicorn.conf.py (GUNICORN_BIND, GUNICORN_WORKERS, GUNICORN_THREADS, CRM_LOG_LEVEL,
GUNICORN_ACCESSLOG, graceful_timeout), so a switch changes the server and nothing else.

gunicorn: exec'd with that config; its master empties PROMETHEUS_MULTIPROC_DIR on start and marks
exited workers dead (the config's hooks); GUNICORN_MAX_REQUESTS(_JITTER) recycles workers.

granian (WSGI interface): granian has no master hook in Python, so this module stays as the parent
of granian and does the master's part: it empties the multiprocess directory before granian starts,
marks the files of workers that are gone dead (`mark_process_dead`, every few seconds), forwards
SIGTERM/SIGINT (granian then lets in-flight requests finish, for at most the graceful timeout) and
exits when granian does. Granian binds one address per process, so a second --bind (the gateway's
internal listener) is a second granian with one worker, sharing the directory. Workers that die are
respawned (--respawn-failed-workers); GRANIAN_WORKERS_LIFETIME (>= 60 s) recycles them by age
(granian reads its GRANIAN_* variables itself).
"""

from __future__ import annotations

import argparse
import os
import re
import runpy
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SERVERS = ("gunicorn", "granian")
DEFAULT_SERVER = "gunicorn"
GUNICORN_CONF = Path(__file__).resolve().parents[2] / "deploy" / "gunicorn.conf.py"
SWEEP_SECONDS = 5.0
_PID_FILE = re.compile(r"_(\d+)\.db$")


def web_server(environ: dict[str, str] | None = None) -> str:
    """CRM_WEB_SERVER, checked: gunicorn (default) or granian."""
    raw = (environ if environ is not None else os.environ).get("CRM_WEB_SERVER", "").strip().lower()
    if not raw:
        return DEFAULT_SERVER
    if raw not in SERVERS:
        raise SystemExit(f"CRM_WEB_SERVER must be one of {', '.join(SERVERS)}; got {raw!r}")
    return raw


def server_config(conf: Path = GUNICORN_CONF) -> dict[str, Any]:
    """deploy/gunicorn.conf.py's values (it imports no project code and reads only the environment)."""
    return runpy.run_path(str(conf))


def _executable(name: str) -> str:
    return shutil.which(name, path=str(Path(sys.executable).parent)) or name


def gunicorn_command(app: str, binds: Sequence[str], conf: Path = GUNICORN_CONF) -> list[str]:
    cmd = [_executable("gunicorn"), "-c", str(conf)]
    for bind in binds:  # a CLI bind replaces the config's
        cmd += ["--bind", bind]
    return [*cmd, app]


def granian_command(app: str, bind: str, *, workers: int, threads: int, config: dict[str, Any]) -> list[str]:
    """One granian serving `app` ("module:factory()" or "module:attr") on one address."""
    target, factory = (app[:-2], True) if app.endswith("()") else (app, False)
    cmd = [sys.executable, "-m", "granian", "--interface", "wsgi", "--no-ws", "--workers", str(workers),
           "--blocking-threads", str(threads), "--respawn-failed-workers", "--respawn-interval", "1",
           "--log-level", _granian_level(str(config.get("loglevel") or "info"))]
    if bind.startswith("unix:"):
        cmd += ["--uds", bind.removeprefix("unix:")]
    else:
        host, _, port = bind.rpartition(":")
        cmd += ["--host", host.strip("[]") or "0.0.0.0", "--port", port]  # noqa: S104 - as gunicorn's default
    if not os.environ.get("GRANIAN_WORKERS_KILL_TIMEOUT"):
        # gunicorn's graceful_timeout: how long in-flight requests get on SIGTERM or a recycle.
        cmd += ["--workers-kill-timeout", str(int(config.get("graceful_timeout") or 30))]
    if config.get("accesslog"):
        cmd.append("--access-log")
    if factory:
        cmd.append("--factory")
    return [*cmd, target]


def _granian_level(level: str) -> str:
    level = level.lower()
    return level if level in ("critical", "error", "warning", "info", "debug") else "info"


def multiproc_dir() -> Path | None:
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    return Path(value) if value else None


def reset_multiproc_dir(directory: Path) -> None:
    """Empty it (what gunicorn's on_starting hook does): a previous run's files would be summed in."""
    directory.mkdir(parents=True, exist_ok=True)
    for entry in directory.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def sweep_dead_workers(directory: Path, swept: set[int]) -> list[int]:
    """mark_process_dead for every pid with files in the directory that no longer runs (what
    gunicorn's child_exit hook does); only live gauges' files go, counters stay summed in."""
    from prometheus_client import multiprocess

    dead = []
    for path in directory.glob("*.db"):
        match = _PID_FILE.search(path.name)
        if not match:
            continue
        pid = int(match.group(1))
        if pid in swept or Path(f"/proc/{pid}").exists():
            continue
        multiprocess.mark_process_dead(pid, str(directory))
        swept.add(pid)
        dead.append(pid)
    return dead


def run_granian(app: str, binds: Sequence[str]) -> int:
    config = server_config()
    binds = list(binds) or list(config["bind"] if isinstance(config["bind"], list) else [config["bind"]])
    directory = multiproc_dir()
    if directory is not None:
        reset_multiproc_dir(directory)
    workers, threads = int(config["workers"]), int(config["threads"])
    procs: list[subprocess.Popen[bytes]] = []
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stopping.set()
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # granian's graceful stop, for either signal

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for i, bind in enumerate(binds):
        if stopping.is_set():
            break
        # The first address serves traffic with the configured workers; any further one (an
        # internal listener for /metrics and /readyz) needs only one.
        procs.append(subprocess.Popen(granian_command(app, bind, workers=workers if i == 0 else 1,
                                                      threads=threads if i == 0 else min(threads, 2), config=config)))
    swept: set[int] = set()
    failed: int | None = None
    swept_at = 0.0
    while True:
        if directory is not None and time.monotonic() - swept_at >= SWEEP_SECONDS:
            swept_at = time.monotonic()
            try:
                sweep_dead_workers(directory, swept)
            except OSError:  # the directory went away under us: metrics must not stop the server
                pass
        exited = [p for p in procs if p.poll() is not None]
        if exited and not stopping.is_set():
            failed = exited[0].returncode or 1  # one listener gone: stop the rest; the supervisor restarts us
            on_signal(signal.SIGTERM, None)
        if len(exited) == len(procs):
            break
        time.sleep(0.2)
    return failed if failed is not None else max(p.returncode or 0 for p in procs)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crm_runtime.web", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bind", action="append", default=[], help="listen address (repeatable); default GUNICORN_BIND")
    parser.add_argument("app", help="WSGI app spec, e.g. 'contacts.app:create_app()'")
    args = parser.parse_args(argv)
    server = web_server()
    if server == "gunicorn":
        cmd = gunicorn_command(args.app, args.bind)
        os.execv(cmd[0], cmd)
    return run_granian(args.app, args.bind)


if __name__ == "__main__":
    sys.exit(main())
