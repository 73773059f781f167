from crm_runtime.cli import ServiceProcess, main
from crm_runtime.service import migrations_dir
from pipeline.consumer import consumers
from pipeline.models import metadata
from pipeline.reminders import reminder_loops

PROCESS = ServiceProcess(name="pipeline", metadata=metadata, app="pipeline.app:create_app()",
                         migrations=migrations_dir(__file__), consumers=consumers,
                         background=lambda settings, db: [
                             *reminder_loops(settings, db),
                         ])

if __name__ == "__main__":
    main(PROCESS)
