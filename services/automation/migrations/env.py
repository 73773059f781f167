from automation.models import metadata
from crm_db.migrate import run_env

run_env(metadata())
