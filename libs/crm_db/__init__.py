"""Database plumbing shared by every service: engine, sessions, tenant scoping, RLS, migrations."""

from crm_db.base import JsonType, TenantScoped, utcnow
from crm_db.database import Database

__all__ = ["Database", "JsonType", "TenantScoped", "utcnow"]
