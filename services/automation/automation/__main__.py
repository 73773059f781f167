from automation.consumer import consumers
from automation.models import metadata
from automation.worker import DeliveryWorker
from automation.workflows.wiring import background as workflow_loops
from crm_runtime.cli import ServiceProcess, main
from crm_runtime.service import migrations_dir

# `worker` runs the outbox relay, the webhooks and workflows consumers, the delivery loop, and the
# workflow run loop and timers.
PROCESS = ServiceProcess(name="automation", metadata=metadata, app="automation.app:create_app()",
                         migrations=migrations_dir(__file__), consumers=consumers,
                         background=lambda settings, db: [DeliveryWorker.from_settings(settings, db).run,
                                                                  *workflow_loops(settings, db)])

if __name__ == "__main__":
    main(PROCESS)
