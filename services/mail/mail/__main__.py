from crm_runtime.cli import ServiceProcess, main
from crm_runtime.service import migrations_dir
from mail.consumer import consumers
from mail.models import metadata
from mail.service.delivery import MailWorker

# `worker` runs the outbox relay, the consumers and the send loop; `smtp` the inbound SMTP server.
PROCESS = ServiceProcess(name="mail", metadata=metadata, app="mail.app:create_app()",
                         migrations=migrations_dir(__file__), consumers=consumers,
                         background=lambda settings, db: [MailWorker.from_settings(settings, db).run])

if __name__ == "__main__":
    main(PROCESS)
