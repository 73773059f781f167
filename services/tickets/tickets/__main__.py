"""Tickets service: support requests a tenant's team works through to resolution."""
from crm_runtime.cli import ServiceProcess, main
from crm_runtime.service import migrations_dir
from tickets.consumer import background, consumers
from tickets.models import metadata

# `worker` runs the outbox relay, every area's consumers and its timers (SLA, auto-close).
PROCESS = ServiceProcess(name="tickets", metadata=metadata, app="tickets.app:create_app()",
                         migrations=migrations_dir(__file__), consumers=consumers, background=background)

if __name__ == "__main__":
    main(PROCESS)
