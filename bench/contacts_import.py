"""Import benchmark: a CSV of 100,000 contacts through POST /v1/imports and the real job worker.

For each size in BENCH_IMPORT_ROWS (default "100000"; "100000,200000" also compares the worker's
memory): a fresh PostgreSQL database, a tenant with a default phone region, two custom fields
(`plan` enum, `seats` number) defined through the API and 2,500 contacts created through the
batch API. The file has 2.5 % rows whose email belongs to one of those contacts (in another
case), 2.5 % that repeat an earlier row's email (half in the same 1,000-row batch, half far
back), 0.1 % with an invalid email, phones in E.164 and national form, tags and both custom
fields. The upload goes through the service app in-process (the harness's internal token); the
worker is a separate process (`job_runner(...).run_once()`), so its peak RSS (VmHWM) is its own;
so is that of any helper process it starts. `import_seconds` runs from the start of the upload to
the job's finished_at. CPU seconds of the worker, its helpers and the PostgreSQL backends show
where the time goes whatever else the machine runs. Alone: `.venv/bin/python bench/contacts_import.py`.
Knobs: BENCH_IMPORT_DB (database name), BENCH_IMPORT_PROFILE=<file> (cProfile the job, checked in the
worker process), BENCH_IMPORT_WITHOUT_INDEX=<index,...> (drop indexes first, to measure their share).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import ROOT, pg_admin_url  # noqa: E402

SIZES = [int(s) for s in os.environ.get("BENCH_IMPORT_ROWS", "100000").replace("_", "").split(",") if s.strip()]
PRE_EXISTING = 2_500
GOAL_SECONDS = 10.0
STAGES = ("lead", "subscriber", "customer", "marketing_qualified", "opportunity")
PLANS = ("free", "pro", "team", "enterprise")
WORKER_TIMEOUT = 900  # seconds: a bound on the worker process, however slow the import
# Its own database (dropped and made again each run); another name lets two checkouts bench at once.
DATABASE = os.environ.get("BENCH_IMPORT_DB", "bench_contacts_import")


def row_kind(i: int) -> str:
    """Row i of the file: new | existing (a pre-created contact's email) | in_file | bad."""
    if i % 1000 == 517:
        return "bad"
    if i % 40 == 3:
        return "existing"
    if i % 40 == 23:
        return "in_file"
    return "new"


def make_csv(rows: int) -> tuple[bytes, dict[str, int]]:
    """The file and the counts the job must end with."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["first_name", "last_name", "email", "phone", "lifecycle_stage", "tags", "plan", "seats"])
    expected = {"created": 0, "skipped": 0, "failed": 0}
    for i in range(rows):
        kind = row_kind(i)
        email = f"person{i}@example.com"
        if kind == "existing":
            email = f"Pre{(i // 40) % PRE_EXISTING}@Example.org"  # emails are compared lower-cased
        elif kind == "in_file":  # an earlier "new" row (i - 1 and i - 1001 are 22 mod 40)
            email = f"person{i - 1001 if (i // 40) % 2 and i > 1001 else i - 1}@example.com"
        elif kind == "bad":
            email = "not-an-email"
        phone = f"+49 30 2{i:07d}" if i % 2 else f"030 3{i:07d}"  # national: the tenant's default region (DE)
        writer.writerow([f"First{i}", f"Last{i}", email, phone, STAGES[i % len(STAGES)],
                         "imported;bench" if i % 3 else "", PLANS[i % len(PLANS)], str(i % 50)])
        expected["skipped" if kind in ("existing", "in_file") else "failed" if kind == "bad" else "created"] += 1
    return out.getvalue().encode(), expected


def status_mb(field: str, pid: str = "self") -> float:
    """A process's resident memory now (VmRSS) or at its peak (VmHWM), in MB; 0 once it is gone.
    Not getrusage's ru_maxrss: after a vfork-based spawn that also counts the parent's memory."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class ChildPeaks(threading.Thread):
    """The largest peak RSS of the processes this one starts (an import's checker processes, say),
    and their CPU seconds: every descendant counts (a forkserver's children are grandchildren,
    which RUSAGE_CHILDREN never sees), sampled every 50 ms, a process's last reading kept."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak, self.done = 0.0, threading.Event()
        self.ticks: dict[int, int] = {}

    def run(self) -> None:
        while not self.done.wait(0.05):
            self.sample()

    def sample(self) -> None:
        todo, seen = [os.getpid()], set()
        while todo:
            pid = todo.pop()
            for children in Path(f"/proc/{pid}/task").glob("*/children"):
                try:
                    found = [int(p) for p in children.read_text().split()]
                except OSError:  # the thread or process ended meanwhile
                    continue
                for child in found:
                    if child not in seen:
                        seen.add(child)
                        todo.append(child)
        for pid in seen:
            self.peak = max(self.peak, status_mb("VmHWM", str(pid)))
            try:  # utime + stime, fields 14 and 15 of /proc/<pid>/stat (counted after the name's ")")
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            self.ticks[pid] = int(fields[11]) + int(fields[12])

    def cpu_seconds(self) -> float:
        return sum(self.ticks.values()) / os.sysconf("SC_CLK_TCK")


def worker_main() -> None:
    """The worker process: claim and run one job, then print its memory figures as JSON."""
    from contacts.__main__ import job_runner
    from crm_db.database import Database
    from crm_testing.apps import make_settings

    settings = make_settings("contacts", Path(os.environ["BENCH_IMPORT_VAR"]), database_url=os.environ["BENCH_IMPORT_APP_URL"],
                             owner_url=os.environ["BENCH_IMPORT_OWNER_URL"])
    db = Database(settings.database_url)
    runner = job_runner(settings, db)
    runner.run_once()  # nothing queued yet: connects and imports what a job needs, for the baseline
    baseline, deadline, children = status_mb("VmRSS"), time.monotonic() + WORKER_TIMEOUT, ChildPeaks()
    cpu_before = sum(getattr(resource.getrusage(resource.RUSAGE_SELF), f) for f in ("ru_utime", "ru_stime"))
    children.start()
    profile_to = os.environ.get("BENCH_IMPORT_PROFILE")  # a path: cProfile the job, checking in this process
    profiler = None
    if profile_to:
        import cProfile

        from contacts.service import imports

        imports.PARALLEL_MIN_ROWS = 10**12
        profiler = cProfile.Profile()
    print("ready", flush=True)
    while True:
        if profiler is not None:
            profiler.enable()
        ran = runner.run_once()
        if profiler is not None:
            profiler.disable()
        if ran:
            break
        if time.monotonic() > deadline:
            raise SystemExit("no job arrived")
        time.sleep(0.02)
    children.done.set()
    children.join()
    children.sample()
    if profiler is not None:
        profiler.dump_stats(profile_to)
    own, helpers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"baseline_rss_mb": baseline, "peak_rss_mb": status_mb("VmHWM"), "end_rss_mb": status_mb("VmRSS"),
                      "children_peak_rss_mb": children.peak, "worker_cpu_s": own.ru_utime + own.ru_stime - cpu_before,
                      "checker_cpu_s": max(helpers.ru_utime + helpers.ru_stime, children.cpu_seconds())}), flush=True)
    db.dispose()


class BackendCpu:
    """CPU seconds of the PostgreSQL backends serving one database since this was made (sampled:
    a backend's last reading before it exits counts)."""

    def __init__(self, admin: str, database: str) -> None:
        self.admin, self.database = admin, database
        self.start: dict[int, int] = {}
        self.last: dict[int, int] = {}
        self.sample()
        self.start = dict(self.last)

    def sample(self) -> None:
        import psycopg

        from crm_testing.db import libpq_url

        with psycopg.connect(libpq_url(self.admin), autocommit=True) as conn:
            pids = [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.database,))]
        for pid in pids:
            try:  # utime + stime, fields 14 and 15 of /proc/<pid>/stat (counted after the name's ")")
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            self.last[pid] = int(fields[11]) + int(fields[12])

    def seconds(self) -> float:
        ticks = sum(v - self.start.get(pid, 0) for pid, v in self.last.items())
        return ticks / os.sysconf("SC_CLK_TCK")


def bench_size(admin: str, rows: int) -> dict[str, Any]:
    import contacts
    from contacts.app import create_app
    from contacts.models import metadata
    from crm_runtime.service import migrations_dir
    from crm_testing.apps import make_harness
    from crm_testing.db import create_service_database

    started = time.monotonic()
    owner_url, app_url = create_service_database(admin, DATABASE)
    var = ROOT / "var" / "bench" / "import"
    var.mkdir(parents=True, exist_ok=True)
    svc = make_harness("contacts", create_app, metadata(), migrations_dir(contacts.__file__), var,
                       database_url=app_url, owner_url=owner_url)
    for path, body, method in (
            ("/v1/settings/contacts", {"default_region": "DE"}, "patch"),
            ("/v1/properties/contacts", {"key": "plan", "label": "Plan", "type": "enum", "options": list(PLANS)}, "post"),
            ("/v1/properties/contacts", {"key": "seats", "label": "Seats", "type": "number"}, "post")):
        answer = getattr(svc.client, method)(path, json=body, headers=svc.headers("bench"))
        if answer.status_code not in (200, 201):
            raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.get_data(as_text=True)[:500]}")
    for start in range(0, PRE_EXISTING, 100):
        items = [{"email": f"pre{i}@example.org", "first_name": f"Pre{i}"} for i in range(start, start + 100)]
        answer = svc.client.post("/v1/contacts/batch", json={"mode": "create", "items": items}, headers=svc.headers("bench"))
        if answer.status_code != 200 or {r["status"] for r in answer.get_json()["results"]} != {201}:
            raise RuntimeError(f"batch create: {answer.status_code} {answer.get_data(as_text=True)[:500]}")
    for index in filter(None, os.environ.get("BENCH_IMPORT_WITHOUT_INDEX", "").split(",")):
        # A measurement only (what one index costs an import): the service never runs without it.
        import psycopg

        from crm_testing.db import libpq_url

        with psycopg.connect(libpq_url(owner_url), autocommit=True) as conn:
            conn.execute(f'DROP INDEX "{index}"')
        print(f"import: without index {index} (measuring its share)", flush=True)
    data, expected = make_csv(rows)
    print(f"import: {rows:,} rows, {len(data) / 1e6:.1f} MB CSV ready ({time.monotonic() - started:.1f}s setup)", flush=True)

    env = {**os.environ, "BENCH_IMPORT_VAR": str(var), "BENCH_IMPORT_APP_URL": app_url, "BENCH_IMPORT_OWNER_URL": owner_url}
    worker = subprocess.Popen([sys.executable, __file__, "--worker"], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    lines: list[str] = []
    ready = threading.Event()

    def read_worker() -> None:  # its log lines come first, and a full pipe would block it
        assert worker.stdout is not None
        for line in worker.stdout:
            lines.append(line)
            if line.strip() == "ready":
                ready.set()

    threading.Thread(target=read_worker, daemon=True).start()
    try:
        if not ready.wait(120):
            raise RuntimeError("the import worker did not start")
        db_cpu = BackendCpu(admin, DATABASE)
        upload_start = dt.datetime.now(dt.UTC)
        answer = svc.client.post("/v1/imports", data={"object": "contacts", "file": (io.BytesIO(data), "bench.csv")},
                                 headers=svc.headers("bench"), content_type="multipart/form-data")
        upload_seconds = (dt.datetime.now(dt.UTC) - upload_start).total_seconds()
        if answer.status_code != 202:
            raise RuntimeError(f"upload: {answer.status_code} {answer.get_data(as_text=True)[:500]}")
        del data
        deadline = time.monotonic() + WORKER_TIMEOUT
        while worker.poll() is None and time.monotonic() < deadline:
            db_cpu.sample()
            time.sleep(0.5)
        worker.wait(timeout=5)
        figures = json.loads(next(x for x in reversed(lines) if x.startswith('{"baseline_rss_mb"')))
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    # A fresh token: internal tokens live 60 s, and the import may take longer.
    job = svc.client.get(answer.headers["Location"], headers=svc.headers("bench")).get_json()
    svc.db.dispose()
    if job["status"] != "completed":
        raise RuntimeError(f"import job ended {job['status']}: {job.get('error')}")
    got = {k: job[k] for k in expected}
    if got != expected or job["updated"] or job["rows_processed"] != rows:
        raise RuntimeError(f"import counts {got} (updated {job['updated']}), expected {expected}")
    finished = dt.datetime.fromisoformat(job["finished_at"].replace("Z", "+00:00"))
    job_started = dt.datetime.fromisoformat(job["started_at"].replace("Z", "+00:00"))
    return {"rows": rows, "seconds": (finished - upload_start).total_seconds(), "upload_seconds": upload_seconds,
            "worker_seconds": (finished - job_started).total_seconds(), "db_cpu_s": db_cpu.seconds(), **got, **figures}


def bench_import() -> list[dict[str, Any]]:
    admin, results = pg_admin_url(), []
    for rows in SIZES:
        r = bench_size(admin, rows)
        results.append(r)
        met = "yes" if rows != 100_000 or r["seconds"] <= GOAL_SECONDS else "no"
        print(f"import_rows={rows} import_seconds={r['seconds']:.2f} import_rows_per_second={rows / r['seconds']:.0f} "
              f"created={r['created']} skipped={r['skipped']} failed={r['failed']} "
              f"upload_seconds={r['upload_seconds']:.2f} worker_seconds={r['worker_seconds']:.2f} "
              f"worker_baseline_rss_mb={r['baseline_rss_mb']:.0f} worker_peak_rss_mb={r['peak_rss_mb']:.0f} "
              f"checker_peak_rss_mb={r['children_peak_rss_mb']:.0f} "
              f"cpu_seconds=worker:{r['worker_cpu_s']:.1f},checker:{r['checker_cpu_s']:.1f},db:{r['db_cpu_s']:.1f}"
              + (f" goal_seconds<={GOAL_SECONDS:.0f} met={met}" if rows == 100_000 else ""), flush=True)
    if len(results) > 1:  # flat memory: the same peaks whatever the file's size
        growth = ",".join(f"{r['rows']}:{r['peak_rss_mb'] - r['baseline_rss_mb']:.0f}" for r in results)
        children = ",".join(f"{r['rows']}:{r['children_peak_rss_mb']:.0f}" for r in results)
        print(f"import_rss_by_rows worker_growth_mb={growth} checker_peak_mb={children}", flush=True)
    return results


if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        worker_main()
    else:
        print(f"bench import: sizes {SIZES}; {os.cpu_count()} cores", flush=True)
        bench_import()
