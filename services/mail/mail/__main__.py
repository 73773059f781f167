from crm_core.settings import Settings
from crm_runtime.cli import ServiceProcess, main
from crm_runtime.service import migrations_dir
from mail.consumer import consumers
from mail.models import metadata
from mail.service.delivery import MailWorker


def _smtp(settings: Settings) -> int:
    from mail.smtp_server import run  # aiosmtpd only in the process that serves SMTP

    return run(settings)


# `worker` runs the outbox relay, the consumers and the send loop; `smtp` the inbound SMTP server.
PROCESS = ServiceProcess(name="mail", metadata=metadata, app="mail.app:create_app()",
                         migrations=migrations_dir(__file__), consumers=consumers,
                         background=lambda settings, db: [MailWorker.from_settings(settings, db).run],
                         commands={"smtp": ("run the inbound SMTP server", _smtp)}, servers=("smtp",))

if __name__ == "__main__":
    main(PROCESS)
