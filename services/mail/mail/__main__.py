from crm_core.settings import Settings
from crm_runtime.cli import ServiceProcess, main
from crm_runtime.service import migrations_dir
from mail.consumer import consumers
from mail.models import metadata


def _smtp(settings: Settings) -> int:
    from mail.smtp_server import run  # aiosmtpd only in the process that serves SMTP

    return run(settings)


# `worker` runs the outbox relay, the consumers and the send loop; `smtp` the inbound SMTP server.
PROCESS = ServiceProcess(name="mail", metadata=metadata, app="mail.app:create_app()",
                         migrations=migrations_dir(__file__), consumers=consumers,
                         commands={"smtp": ("run the inbound SMTP server", _smtp)})

if __name__ == "__main__":
    main(PROCESS)
