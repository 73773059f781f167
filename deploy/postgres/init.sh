#!/usr/bin/env bash
# Creates one database per CRM service with two roles each:
#
#   <svc>_owner  owns crm_<svc> and everything alembic creates in it
#                (used only by `python -m <svc> migrate`, CRM_DATABASE_OWNER_URL)
#   <svc>_app    runtime role (CRM_DATABASE_URL): DML on the owner's tables,
#                NOSUPERUSER NOBYPASSRLS, so row-level security applies to it.
#
# Mounted into /docker-entrypoint-initdb.d of the postgres image, which runs it
# once, on an empty data directory, as the superuser. Safe to run again by hand
# against an existing cluster (roles and databases are created only if missing,
# passwords and grants are re-applied):
#
#   PGHOST=... PGUSER=postgres POSTGRES_DB=postgres bash deploy/postgres/init.sh
#
# Passwords: CRM_<SVC>_DB_OWNER_PASSWORD / CRM_<SVC>_DB_APP_PASSWORD
# (defaults dev_<svc>_owner / dev_<svc>_app, development only).
# Services: CRM_SERVICES (default: all eight).
#
# The file may be sourced by the image's entrypoint (when not executable), so it
# changes no shell options of its caller beyond `set -e` (already on there) and
# keeps its variables local.
set -e

crm_init_databases() {
    local services="${CRM_SERVICES:-gateway contacts pipeline tickets campaigns reporting automation mail}"
    local superuser="${POSTGRES_USER:-postgres}"
    local maintenance_db="${POSTGRES_DB:-postgres}"
    local svc upper owner_var app_var owner_pw app_pw

    for svc in $services; do
        if [[ ! "$svc" =~ ^[a-z][a-z0-9_]*$ ]]; then
            echo "crm-init: invalid service name '$svc'" >&2
            return 1
        fi
        upper="${svc^^}"
        owner_var="CRM_${upper}_DB_OWNER_PASSWORD"
        app_var="CRM_${upper}_DB_APP_PASSWORD"
        owner_pw="${!owner_var:-dev_${svc}_owner}"
        app_pw="${!app_var:-dev_${svc}_app}"

        echo "crm-init: database crm_${svc} (roles ${svc}_owner, ${svc}_app)"

        # Cluster-level objects, from the maintenance database. Values are
        # passed as psql variables and quoted by psql/format(), never spliced
        # into the SQL text by the shell.
        psql -X --quiet -v ON_ERROR_STOP=1 --no-password \
            --username "$superuser" --dbname "$maintenance_db" \
            -v db="crm_${svc}" -v owner="${svc}_owner" -v app="${svc}_app" \
            -v owner_pw="$owner_pw" -v app_pw="$app_pw" <<'SQL'
SELECT format('CREATE ROLE %I NOLOGIN', :'owner')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I NOLOGIN', :'app')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app') \gexec

ALTER ROLE :"owner" WITH LOGIN PASSWORD :'owner_pw'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
ALTER ROLE :"app" WITH LOGIN PASSWORD :'app_pw'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;

SELECT format('CREATE DATABASE %I OWNER %I ENCODING %L TEMPLATE template0',
              :'db', :'owner', 'UTF8')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec

ALTER DATABASE :"db" OWNER TO :"owner";
-- Only the owner and the service's own app role may connect.
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"app";
SQL

        # Database-level objects, inside crm_<svc>.
        psql -X --quiet -v ON_ERROR_STOP=1 --no-password \
            --username "$superuser" --dbname "crm_${svc}" \
            -v owner="${svc}_owner" -v app="${svc}_app" <<'SQL'
CREATE EXTENSION IF NOT EXISTS pg_trgm;

ALTER SCHEMA public OWNER TO :"owner";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app";

-- Tables and sequences that the owner (alembic) creates later are usable by
-- the app role; DDL stays with the owner.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO :"app";
-- The same for objects that already exist (re-runs after migrations).
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app";
SQL
    done
}

crm_init_databases
