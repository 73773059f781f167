from crm_db.migrate import run_env
from pipeline.models import metadata

run_env(metadata())
