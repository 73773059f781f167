import datetime as dt

from contacts.models import metadata
from contacts.service.exports import run_export
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
                       poll_interval=float(settings.get("CRM_JOB_POLL_SECONDS", "1") or 1))
    runner.register_kind("import", run_import)
    runner.register_kind("export", run_export)
    runner.register_kind("rescore", run_rescore)
    return runner


def background(settings: Settings, db: Database) -> list[BackgroundLoop]:
    # CRM_JOB_WORKERS threads share the queue (jobs are claimed one at a time).
    return [job_runner(settings, db).run for _ in range(int(settings.get("CRM_JOB_WORKERS", "1") or 1))]


# `worker` runs the outbox relay and the job worker.
PROCESS = ServiceProcess(name="contacts", metadata=metadata, app="contacts.app:create_app()",
                         migrations=migrations_dir(__file__), background=background)

if __name__ == "__main__":
    main(PROCESS)
