"""Gunicorn settings shared by every CRM web process.

Used as ``gunicorn -c /app/deploy/gunicorn.conf.py '<service>.app:create_app()'``
(``python -m <service> web`` execs exactly that with CRM_WEB_SERVER=gunicorn, the
default). With CRM_WEB_SERVER=granian, libs/crm_runtime/web.py reads the same
values from this file (bind, workers, threads, loglevel, accesslog,
graceful_timeout), so both servers run on the same settings. Deliberately
imports no project code: the app is loaded by each worker after fork (no
``preload_app``).

Environment:
  GUNICORN_BIND       listen address (default 0.0.0.0:8000)
  GUNICORN_WORKERS    worker processes (default 2 * cores + 1, capped at 4)
  GUNICORN_THREADS    threads per worker (default 1; > 1 selects gthread)
  GUNICORN_TIMEOUT    worker timeout in seconds (default 30)
  GUNICORN_MAX_REQUESTS  recycle a worker after this many requests (default 0: never)
  GUNICORN_MAX_REQUESTS_JITTER  random 0..N added per worker (default a tenth of the above)
  GUNICORN_ACCESSLOG  access log target, e.g. "-" for stdout (default: off)
  CRM_LOG_LEVEL       gunicorn error-log level (default info)
  PROMETHEUS_MULTIPROC_DIR  prometheus_client multiprocess directory; emptied
                      when the master starts, dead workers' files are released.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
from pathlib import Path

MAX_DEFAULT_WORKERS = 4


def _env_int(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def default_workers(cpu_count: int | None = None) -> int:
    cores = cpu_count if cpu_count is not None else multiprocessing.cpu_count()
    return min(2 * cores + 1, MAX_DEFAULT_WORKERS)


bind = os.environ.get("GUNICORN_BIND", "").strip() or "0.0.0.0:8000"
workers = _env_int("GUNICORN_WORKERS", default_workers())
threads = _env_int("GUNICORN_THREADS", 1)
worker_class = "gthread" if threads > 1 else "sync"
keepalive = 30
timeout = _env_int("GUNICORN_TIMEOUT", 30)
graceful_timeout = 30
# Recycling (a worker restarts after max_requests + random(0, jitter) requests; the jitter keeps
# the workers from restarting together).
max_requests = _env_int("GUNICORN_MAX_REQUESTS", 0, minimum=0)
max_requests_jitter = _env_int("GUNICORN_MAX_REQUESTS_JITTER", max_requests // 10, minimum=0)

# Heartbeat files on tmpfs: avoids stalls on overlay filesystems and works with
# a read-only root filesystem.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

accesslog = os.environ.get("GUNICORN_ACCESSLOG", "").strip() or None
errorlog = "-"
loglevel = os.environ.get("CRM_LOG_LEVEL", "info").strip().lower() or "info"
proc_name = os.environ.get("GUNICORN_PROC_NAME") or None


def _multiproc_dir() -> Path | None:
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    return Path(value) if value else None


def on_starting(server):  # noqa: ARG001 - gunicorn hook signature
    """Start every master with an empty prometheus multiprocess directory.

    Files left by a previous run would otherwise be summed into the new
    counters and gauges.
    """
    directory = _multiproc_dir()
    if directory is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    for entry in directory.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def child_exit(server, worker):  # noqa: ARG001 - gunicorn hook signature
    """Drop live gauges of a worker that exited (prometheus_client multiprocess)."""
    if _multiproc_dir() is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)

# gunicorn 27 opens a control socket at one fixed path per user; every service's master would
# fight over it (and a test run's over a running platform's). Nothing here uses it.
control_socket_disable = True
