from campaigns.models import metadata
from crm_runtime.cli import ServiceProcess, main
from crm_runtime.service import migrations_dir

PROCESS = ServiceProcess(name="campaigns", metadata=metadata, app="campaigns.app:create_app()",
                         migrations=migrations_dir(__file__))

if __name__ == "__main__":
    main(PROCESS)
