from automation.consumer import consumers
from automation.models import metadata
from automation.worker import DeliveryWorker
from crm_runtime.cli import ServiceProcess, main
from crm_runtime.service import migrations_dir

# `worker` runs the outbox relay, the automation.webhooks consumer and the delivery loop.
PROCESS = ServiceProcess(name="automation", metadata=metadata, app="automation.app:create_app()",
                         migrations=migrations_dir(__file__), consumers=consumers,
                         background=lambda settings, db: [DeliveryWorker.from_settings(settings, db).run])

if __name__ == "__main__":
    main(PROCESS)
