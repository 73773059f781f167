"""A bench's seeded database, kept between runs while its marker matches (sizes, seed version and
the service's migration files), so reruns skip the seeding; a half-done seed is redone."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from contacts_list import db_url


def seed_marker(sizes: str, migrations: Path) -> str:
    digest = hashlib.sha256(sizes.encode())
    for path in sorted(migrations.glob("**/*.py")):
        digest.update(path.read_bytes())
    return f"crm bench seed {digest.hexdigest()[:16]}"


def ensure_seeded(admin: str, name: str, migrations: Path, want: str, seed: Callable[[str], None],
                  label: str) -> tuple[str, str]:
    """(owner_url, app_url) of database `name` migrated and seeded (seed(superuser_url)), reusing
    one whose marker is `want`."""
    from crm_db.migrate import upgrade
    from crm_testing.db import APP_PASSWORD, OWNER_PASSWORD, create_service_database

    urls = (db_url(admin, name, f"{name}_owner", OWNER_PASSWORD).replace("postgresql://", "postgresql+psycopg://"),
            db_url(admin, name, f"{name}_app", APP_PASSWORD).replace("postgresql://", "postgresql+psycopg://"))
    with psycopg.connect(db_url(admin, "postgres"), autocommit=True) as conn:
        found = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                             (name,)).fetchone()
    if found and found[0] == want:
        print(f"{label} seed: reusing {name}", flush=True)
        return urls
    started = time.monotonic()
    owner, app = create_service_database(admin, name)
    upgrade(migrations, owner)
    seed(db_url(admin, name))
    with psycopg.connect(db_url(admin, "postgres"), autocommit=True) as conn:
        conn.execute(f"COMMENT ON DATABASE {name} IS '{want}'")  # last: a half-done seed is redone
    print(f"{label} seed: done in {time.monotonic() - started:.0f}s", flush=True)
    return owner, app
