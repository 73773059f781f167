from crm_db.migrate import run_env
from reporting.models import metadata

run_env(metadata())
