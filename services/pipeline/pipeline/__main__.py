from crm_core.settings import Settings
from crm_db.database import Database
from crm_events.outbox import Outbox
from crm_runtime.cli import BackgroundLoop, ServiceProcess, main
from crm_runtime.service import migrations_dir
from pipeline.consumer import consumers
from pipeline.models import metadata
from pipeline.reminders import reminder_loops
from pipeline.snapshots import ForecastSnapshotter


def background(settings: Settings, db: Database) -> list[BackgroundLoop]:
    """The weekly forecast snapshots (pipeline.snapshots) and the reminder scheduler (pipeline.reminders)."""
    poll = float(settings.get("CRM_FORECAST_SNAPSHOT_POLL_SECONDS", "60") or 60)
    return [ForecastSnapshotter(db, Outbox("pipeline", metadata()), poll_interval=poll).run, *reminder_loops(settings, db)]


# `worker` runs the outbox relay, the consumers, the forecast snapshots and the reminders.
PROCESS = ServiceProcess(name="pipeline", metadata=metadata, app="pipeline.app:create_app()",
                         migrations=migrations_dir(__file__), consumers=consumers, background=background)

if __name__ == "__main__":
    main(PROCESS)
