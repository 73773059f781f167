"""Test support for the CRM monorepo.

- ``crm_testing.plugin``: pytest fixtures ``pg_admin_url``, ``kafka_bootstrap`` and
  ``redis_url`` backed by real servers (env var, Docker, or ``infra/servers.py``).
- ``create_service_database``: a database with the production owner/app role split.
- ``free_port``: a currently free TCP port on 127.0.0.1.

Kept import-light on purpose: ``crm_testing.apps`` (Flask harnesses) is not imported here.
"""

from crm_testing.db import create_service_database
from crm_testing.provision import free_port

__all__ = ["create_service_database", "free_port"]
