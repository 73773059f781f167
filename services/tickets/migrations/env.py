from crm_db.migrate import run_env
from tickets.models import metadata

run_env(metadata())
