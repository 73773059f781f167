from crm_runtime.cli import ServiceProcess, main
from crm_runtime.service import migrations_dir
from mail.consumer import consumers
from mail.models import metadata

# `worker` runs the outbox relay, the consumers and the send loop; `smtp` the inbound SMTP server.
PROCESS = ServiceProcess(name="mail", metadata=metadata, app="mail.app:create_app()",
                         migrations=migrations_dir(__file__), consumers=consumers)

if __name__ == "__main__":
    main(PROCESS)
