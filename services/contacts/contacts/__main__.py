import datetime as dt

from contacts.consumer import consumers
from contacts.models import metadata
from contacts.service.exports import run_export
from contacts.service.housekeeping import Housekeeper
from contacts.service.imports import run_import
from contacts.service.jobs import JobRunner
from contacts.service.scoring import run_rescore
from crm_core.settings import Settings
from crm_db.database import Database
from crm_events.outbox import Outbox
from crm_runtime.cli import BackgroundLoop, ServiceProcess, main
from crm_runtime.service import migrations_dir


def job_runner(settings: Settings, db: Database) -> JobRunner:
    """The background job worker: imports, exports and rescoring."""
    runner = JobRunner(db, Outbox("contacts", metadata()),
                       lease=dt.timedelta(seconds=float(settings.get("CRM_JOB_LEASE_SECONDS", "300") or 300)),
                       poll_interval=float(settings.get("CRM_JOB_POLL_SECONDS", "1") or 1),
                       tenant_concurrency=int(settings.get("CRM_JOB_TENANT_CONCURRENCY", "1") or 1))
    runner.register_kind("import", run_import)
    runner.register_kind("export", run_export)
    runner.register_kind("rescore", run_rescore)
    return runner


def housekeeper(settings: Settings, db: Database) -> Housekeeper:
    """Job files past their retention, periodic rescoring of tenants whose rules decay."""
    hours = float(settings.get("CRM_SCORE_DECAY_RESCORE_HOURS", "24") or 0)
    return Housekeeper(db, Outbox("contacts", metadata()),
                       retention=dt.timedelta(days=float(settings.get("CRM_JOB_FILE_RETENTION_DAYS", "30") or 30)),
                       decay_every=dt.timedelta(hours=hours) if hours > 0 else None,
                       poll_interval=float(settings.get("CRM_HOUSEKEEPING_POLL_SECONDS", "60") or 60))


def background(settings: Settings, db: Database) -> list[BackgroundLoop]:
    # CRM_JOB_WORKERS threads share the queue; with a tenant cap below it, one tenant's long job
    # always leaves workers for the other tenants (service/jobs.py).
    workers = [job_runner(settings, db).run for _ in range(int(settings.get("CRM_JOB_WORKERS", "2") or 2))]
    return [*workers, housekeeper(settings, db).run]


# `worker` runs the outbox relay, the job worker and the consumer of logged mail.
PROCESS = ServiceProcess(name="contacts", metadata=metadata, app="contacts.app:create_app()",
                         migrations=migrations_dir(__file__), consumers=consumers, background=background)

if __name__ == "__main__":
    main(PROCESS)
