from crm_runtime.cli import ServiceProcess, main
from crm_runtime.service import migrations_dir
from tickets.models import metadata

PROCESS = ServiceProcess(name="tickets", metadata=metadata, app="tickets.app:create_app()",
                         migrations=migrations_dir(__file__))

if __name__ == "__main__":
    main(PROCESS)
