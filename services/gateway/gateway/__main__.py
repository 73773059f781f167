from crm_runtime.cli import ServiceProcess, main
from crm_runtime.service import migrations_dir
from gateway.models import metadata

PROCESS = ServiceProcess(name="gateway", metadata=metadata, app="gateway.app:create_app()",
                    migrations=migrations_dir(__file__))

if __name__ == "__main__":
    main(PROCESS)
