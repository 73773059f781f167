from crm_runtime.cli import ServiceProcess, main
from crm_runtime.service import migrations_dir
from reporting.consumer import consumer_specs
from reporting.models import metadata

# No relay: reporting only consumes; its outbox table exists but nothing writes to it.
PROCESS = ServiceProcess(name="reporting", metadata=metadata, app="reporting.app:create_app()",
                         migrations=migrations_dir(__file__), consumers=consumer_specs, has_outbox=False)

if __name__ == "__main__":
    main(PROCESS)
