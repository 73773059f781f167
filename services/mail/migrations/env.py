from crm_db.migrate import run_env
from mail.models import metadata

run_env(metadata())
