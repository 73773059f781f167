"""Behaviour of the deployment scripts: deploy/gunicorn.conf.py,
deploy/keys/keygen.py, deploy/postgres/init.sh, and the Kubernetes examples."""

from __future__ import annotations

import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from compose_support import DEPLOY, EXTRA_PROCESSES, SERVICES

GUNICORN_CONF = DEPLOY / "gunicorn.conf.py"
KEYGEN = DEPLOY / "keys" / "keygen.py"
INIT_SH = DEPLOY / "postgres" / "init.sh"

GUNICORN_ENV = (
    "GUNICORN_BIND", "GUNICORN_WORKERS", "GUNICORN_THREADS", "GUNICORN_TIMEOUT",
    "GUNICORN_ACCESSLOG", "GUNICORN_PROC_NAME", "CRM_LOG_LEVEL", "PROMETHEUS_MULTIPROC_DIR",
)


# --------------------------------------------------------------------------- gunicorn


def load_gunicorn_config(monkeypatch, **env):
    """Load deploy/gunicorn.conf.py the way gunicorn does; return its Config."""
    from gunicorn.app.base import Application

    for name in GUNICORN_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    class _App(Application):
        def init(self, parser, opts, args):  # pragma: no cover - no CLI parsing
            return None

        def load_config(self):
            self.load_config_from_file(str(GUNICORN_CONF))

        def load(self):  # pragma: no cover - never served
            raise AssertionError("not used")

    return _App().cfg


def test_gunicorn_defaults(monkeypatch):
    cfg = load_gunicorn_config(monkeypatch)
    assert cfg.bind == ["0.0.0.0:8000"]
    assert cfg.workers == min(2 * os.cpu_count() + 1, 4)
    assert cfg.threads == 1
    assert cfg.worker_class_str == "sync"
    assert cfg.keepalive == 30
    assert cfg.accesslog is None
    assert cfg.errorlog == "-"
    assert cfg.loglevel == "info"
    assert cfg.preload_app is False


def test_gunicorn_environment_overrides(monkeypatch):
    cfg = load_gunicorn_config(
        monkeypatch,
        GUNICORN_BIND="127.0.0.1:9001",
        GUNICORN_WORKERS="3",
        GUNICORN_THREADS="8",
        GUNICORN_TIMEOUT="60",
        GUNICORN_ACCESSLOG="-",
        CRM_LOG_LEVEL="WARNING",
    )
    assert cfg.bind == ["127.0.0.1:9001"]
    assert cfg.workers == 3
    assert cfg.threads == 8
    assert cfg.worker_class_str == "gthread"
    assert cfg.timeout == 60
    assert cfg.accesslog == "-"
    assert cfg.loglevel == "warning"


def test_gunicorn_default_worker_count_is_capped(monkeypatch):
    namespace = exec_gunicorn_config(monkeypatch)
    assert namespace["default_workers"](1) == 3
    assert namespace["default_workers"](2) == 4
    assert namespace["default_workers"](64) == 4


def exec_gunicorn_config(monkeypatch, **env) -> dict:
    for name in GUNICORN_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    namespace: dict = {}
    exec(compile(GUNICORN_CONF.read_text(), str(GUNICORN_CONF), "exec"), namespace)
    return namespace


def test_gunicorn_rejects_bad_numbers(monkeypatch):
    with pytest.raises(ValueError, match="GUNICORN_WORKERS"):
        exec_gunicorn_config(monkeypatch, GUNICORN_WORKERS="many")
    with pytest.raises(ValueError, match="GUNICORN_THREADS"):
        exec_gunicorn_config(monkeypatch, GUNICORN_THREADS="0")
    # Through gunicorn itself the error stops the process before it serves.
    with pytest.raises(SystemExit):
        load_gunicorn_config(monkeypatch, GUNICORN_WORKERS="-1")


def test_gunicorn_config_only_sets_known_settings(monkeypatch):
    from gunicorn.config import Config

    namespace = exec_gunicorn_config(monkeypatch)
    known = set(Config().settings)
    helpers = {"annotations", "multiprocessing", "os", "shutil", "Path", "MAX_DEFAULT_WORKERS",
               "default_workers"}
    for name in namespace:
        if name.startswith("_") or name in helpers:
            continue
        assert name in known, f"{name} is not a gunicorn setting (typo?)"
    source = GUNICORN_CONF.read_text()
    for forbidden in ("import crm_", "from crm_", "import gateway", "from gateway"):
        assert forbidden not in source


def test_gunicorn_on_starting_resets_the_multiprocess_dir(monkeypatch, tmp_path):
    target = tmp_path / "prom" / "nested"
    cfg = load_gunicorn_config(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(target))
    cfg.on_starting(None)
    assert target.is_dir() and not any(target.iterdir())

    (target / "counter_123.db").write_bytes(b"x")
    (target / "sub").mkdir()
    (target / "sub" / "gauge_all_1.db").write_bytes(b"x")
    cfg.on_starting(None)
    assert target.is_dir() and not any(target.iterdir())


def test_gunicorn_on_starting_without_multiprocess_dir_is_a_noop(monkeypatch, tmp_path):
    cfg = load_gunicorn_config(monkeypatch)
    monkeypatch.chdir(tmp_path)
    cfg.on_starting(None)
    assert not any(tmp_path.iterdir())


def test_gunicorn_child_exit_marks_the_worker_dead(monkeypatch, tmp_path):
    cfg = load_gunicorn_config(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    for name in ("gauge_livesum_4242.db", "gauge_liveall_4242.db", "counter_4242.db",
                 "gauge_livesum_7.db"):
        (tmp_path / name).write_bytes(b"x")
    cfg.child_exit(None, SimpleNamespace(pid=4242))
    remaining = sorted(p.name for p in tmp_path.iterdir())
    assert remaining == ["counter_4242.db", "gauge_livesum_7.db"]


# --------------------------------------------------------------------------- keygen


def run_keygen(tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["CRM_INTERNAL_PRIVATE_KEY_FILE"] = str(tmp_path / "private" / "internal-ed25519.pem")
    env["CRM_INTERNAL_PUBLIC_KEY_FILE"] = str(tmp_path / "public" / "internal-ed25519.pub.pem")
    return subprocess.run(
        [sys.executable, str(KEYGEN)], env=env, capture_output=True, text=True, timeout=60,
        check=True,
    )


def test_keygen_creates_a_matching_ed25519_pair(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    result = run_keygen(tmp_path)
    assert "created" in result.stderr
    private_file = tmp_path / "private" / "internal-ed25519.pem"
    public_file = tmp_path / "public" / "internal-ed25519.pub.pem"
    assert stat.S_IMODE(private_file.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" not in public_file.read_bytes()
    assert b"PRIVATE KEY" not in result.stderr.encode()

    private = serialization.load_pem_private_key(private_file.read_bytes(), password=None)
    public = serialization.load_pem_public_key(public_file.read_bytes())
    assert isinstance(private, Ed25519PrivateKey) and isinstance(public, Ed25519PublicKey)
    public.verify(private.sign(b"internal-token"), b"internal-token")


def test_keygen_is_idempotent_and_rederives_the_public_key(tmp_path):
    run_keygen(tmp_path)
    private_file = tmp_path / "private" / "internal-ed25519.pem"
    public_file = tmp_path / "public" / "internal-ed25519.pub.pem"
    private_pem, public_pem = private_file.read_bytes(), public_file.read_bytes()

    assert "kept" in run_keygen(tmp_path).stderr
    assert private_file.read_bytes() == private_pem
    assert public_file.read_bytes() == public_pem

    public_file.unlink()
    assert "public key rewritten" in run_keygen(tmp_path).stderr
    assert private_file.read_bytes() == private_pem
    assert public_file.read_bytes() == public_pem
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()], "temporary files left behind"


# --------------------------------------------------------------------------- postgres init.sh


FAKE_PSQL = """#!/usr/bin/env bash
{
  printf 'CALL'
  for a in "$@"; do printf '\\x1f%s' "$a"; done
  printf '\\n'
  cat
  printf '\\nEND\\n'
} >> "$FAKE_PSQL_LOG"
"""


def run_init_with_fake_psql(tmp_path: Path, **env_overrides: str):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "psql"
    fake.write_text(FAKE_PSQL)
    fake.chmod(0o755)
    log = tmp_path / "psql.log"
    log.write_text("")
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE_PSQL_LOG": str(log),
        "POSTGRES_USER": "postgres",
        "POSTGRES_DB": "postgres",
        **env_overrides,
    }
    result = subprocess.run(["bash", str(INIT_SH)], env=env, capture_output=True, text=True,
                            timeout=60)
    calls = []
    for chunk in log.read_text().split("\nEND\n"):
        if not chunk.strip():
            continue
        head, _, sql = chunk.lstrip("\n").partition("\n")
        args = head.split("\x1f")[1:]
        variables = {}
        for i, arg in enumerate(args):
            if arg == "-v":
                key, _, value = args[i + 1].partition("=")
                variables[key] = value
        dbname = args[args.index("--dbname") + 1]
        calls.append(SimpleNamespace(args=args, variables=variables, dbname=dbname, sql=sql))
    return result, calls


def test_init_sh_is_valid_bash():
    subprocess.run(["bash", "-n", str(INIT_SH)], check=True, timeout=30)
    assert os.access(INIT_SH, os.X_OK), "init.sh must be executable"


def test_init_sh_creates_roles_and_database_per_service(tmp_path):
    result, calls = run_init_with_fake_psql(
        tmp_path, CRM_CONTACTS_DB_APP_PASSWORD="it's a \"secret\" $HOME"
    )
    assert result.returncode == 0, result.stderr
    assert len(calls) == 2 * len(SERVICES)
    for i, svc in enumerate(SERVICES):
        cluster, database = calls[2 * i], calls[2 * i + 1]
        assert cluster.dbname == "postgres"
        assert cluster.variables["db"] == f"crm_{svc}"
        assert cluster.variables["owner"] == f"{svc}_owner"
        assert cluster.variables["app"] == f"{svc}_app"
        assert cluster.variables["ON_ERROR_STOP"] == "1"
        expected_app_pw = "it's a \"secret\" $HOME" if svc == "contacts" else f"dev_{svc}_app"
        assert cluster.variables["app_pw"] == expected_app_pw
        assert cluster.variables["owner_pw"] == f"dev_{svc}_owner"
        for needle in ("NOSUPERUSER", "NOBYPASSRLS", "CREATE DATABASE %I OWNER %I",
                       'REVOKE ALL ON DATABASE :"db" FROM PUBLIC',
                       'GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"app"'):
            assert needle in cluster.sql, needle
        # Passwords never reach the SQL text itself.
        assert expected_app_pw not in cluster.sql

        assert database.dbname == f"crm_{svc}"
        assert database.variables["owner"] == f"{svc}_owner"
        for needle in ("CREATE EXTENSION IF NOT EXISTS pg_trgm",
                       "REVOKE ALL ON SCHEMA public FROM PUBLIC",
                       'GRANT USAGE ON SCHEMA public TO :"app"',
                       'ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public\n'
                       '    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app"',
                       'ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public\n'
                       '    GRANT USAGE, SELECT ON SEQUENCES TO :"app"'):
            assert needle in database.sql, needle


def test_init_sh_rejects_bad_service_names(tmp_path):
    result, calls = run_init_with_fake_psql(tmp_path, CRM_SERVICES="contacts bad;name")
    assert result.returncode != 0
    assert "invalid service name" in result.stderr
    assert len(calls) == 2  # contacts only, then stopped


def _postgres_tools():
    tools = {}
    for name in ("initdb", "pg_ctl", "psql"):
        path = shutil.which(name)
        if path is None:
            for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                                    reverse=True):
                path = str(candidate)
                break
        if path is None:
            return None
        tools[name] = path
    return tools


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def postgres_server():
    """A throw-away PostgreSQL cluster on 127.0.0.1 (skipped if not installed)."""
    tools = _postgres_tools()
    if tools is None:
        pytest.skip("PostgreSQL server binaries not installed")
    prefix: list[str] = []
    pg_user = None
    if os.geteuid() == 0:  # initdb refuses to run as root
        import pwd

        runuser = shutil.which("runuser")
        try:
            pg_user = pwd.getpwnam("postgres")
        except KeyError:
            pg_user = None
        if runuser is None or pg_user is None:
            pytest.skip("running as root without a postgres user to run the server")
        prefix = [runuser, "-u", "postgres", "--"]
    # Not under tmp_path: pytest's base temp dir is private to the current user.
    base = Path(tempfile.mkdtemp(prefix="crm-deploy-pg-"))
    if pg_user is not None:
        os.chown(base, pg_user.pw_uid, pg_user.pw_gid)
    superuser_password = "super-secret"
    pwfile = base / "pw"
    pwfile.write_text(superuser_password + "\n")
    if pg_user is not None:
        os.chown(pwfile, pg_user.pw_uid, pg_user.pw_gid)
    port = _free_port()
    data = base / "data"
    pg_ctl = [*prefix, tools["pg_ctl"], "-D", str(data)]
    try:
        subprocess.run(
            [*prefix, tools["initdb"], "-D", str(data), "-U", "postgres", "-E", "UTF8",
             "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"],
            check=True, capture_output=True, timeout=120,
        )
        options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={base}"
        subprocess.run([*pg_ctl, "-o", options, "-l", str(base / "log"), "-w", "-t", "60", "start"],
                       check=True, capture_output=True, timeout=120)
        yield SimpleNamespace(port=port, psql=tools["psql"], password=superuser_password)
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*pg_ctl, "-m", "fast", "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def _psql(server, user: str, password: str, dbname: str, sql: str):
    env = {**os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(server.port),
           "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "10"}
    return subprocess.run(
        [server.psql, "-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-U", user, "-d", dbname, "-c", sql],
        env=env, capture_output=True, text=True, timeout=60,
    )


def test_init_sh_against_a_real_postgres(postgres_server, tmp_path):
    server = postgres_server
    app_password = "it's \"odd\" $x"
    env = {**os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(server.port),
           "PGPASSWORD": server.password, "POSTGRES_USER": "postgres", "POSTGRES_DB": "postgres",
           "CRM_CONTACTS_DB_APP_PASSWORD": app_password}
    for _ in range(2):  # the second run proves it is idempotent
        started = time.monotonic()
        result = subprocess.run(["bash", str(INIT_SH)], env=env, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stderr
        assert time.monotonic() - started < 60

    owner = ("contacts_owner", "dev_contacts_owner")
    app = ("contacts_app", app_password)

    def ok(who, dbname, sql):
        result = _psql(server, who[0], who[1], dbname, sql)
        assert result.returncode == 0, f"{who[0]}: {sql}: {result.stderr}"
        return result.stdout.strip()

    def denied(who, dbname, sql, message):
        result = _psql(server, who[0], who[1], dbname, sql)
        assert result.returncode != 0, f"{who[0]} was allowed: {sql}"
        assert message in result.stderr, result.stderr

    ok(owner, "crm_contacts",
       "CREATE TABLE contact (id bigserial PRIMARY KEY, tenant_id int NOT NULL, name text);"
       "CREATE INDEX contact_name_trgm ON contact USING gin (name gin_trgm_ops);"
       "ALTER TABLE contact ENABLE ROW LEVEL SECURITY;"
       "CREATE POLICY tenant ON contact USING "
       "(tenant_id = current_setting('app.tenant_id')::int);")
    ok(app, "crm_contacts",
       "SET app.tenant_id = '1';"
       "INSERT INTO contact (tenant_id, name) VALUES (1, 'Ada Lovelace');"
       "UPDATE contact SET name = 'Ada King';"
       "DELETE FROM contact WHERE false;")
    assert ok(app, "crm_contacts",
              "SET app.tenant_id = '1'; SELECT count(*) FROM contact "
              "WHERE similarity(name, 'Ada Kng') > 0.3") == "1"
    # Row-level security applies to the app role (NOBYPASSRLS, not the owner).
    assert ok(app, "crm_contacts", "SET app.tenant_id = '2'; SELECT count(*) FROM contact") == "0"
    denied(app, "crm_contacts", "CREATE TABLE x (i int)", "permission denied for schema public")
    denied(app, "crm_contacts", "DROP TABLE contact", "must be owner")
    denied(app, "crm_pipeline", "SELECT 1", "permission denied for database")
    denied(("pipeline_app", "dev_pipeline_app"), "crm_contacts", "SELECT 1",
           "permission denied for database")
    denied(owner, "crm_contacts", "CREATE DATABASE sneaky", "permission denied")

    roles = ok(("postgres", server.password), "postgres",
               "SELECT string_agg(rolname || ':' || rolsuper::int || rolbypassrls::int || rolcreaterole::int, ',' "
               "ORDER BY rolname) FROM pg_roles WHERE rolname ~ '_(owner|app)$' "
               "AND rolname <> 'pg_database_owner'")
    entries = dict(item.split(":") for item in roles.split(","))
    assert set(entries) == {f"{s}_{r}" for s in SERVICES for r in ("owner", "app")}
    assert set(entries.values()) == {"000"}
    for svc in SERVICES:
        owner_of_db = ok(("postgres", server.password), "postgres",
                         f"SELECT pg_get_userbyid(datdba) FROM pg_database "
                         f"WHERE datname = 'crm_{svc}'")
        assert owner_of_db == f"{svc}_owner"


# --------------------------------------------------------------------------- Kubernetes


def _pod_specs(objects):
    for obj in objects:
        if obj["kind"] in ("Deployment", "Job"):
            yield obj, obj["spec"]["template"]


def test_k8s_objects_are_well_formed(k8s_objects):
    kinds = {}
    for obj in k8s_objects:
        assert obj["apiVersion"] and obj["kind"] and obj["metadata"]["name"], obj
        kinds.setdefault(obj["kind"], set()).add(obj["metadata"]["name"])
    assert kinds["Namespace"] == {"crm"}
    assert {"gateway", "contacts", "contacts-worker", "automation", "automation-worker", "mail", "mail-worker",
            "mail-smtp"} <= kinds["Deployment"]
    assert {"gateway", "contacts", "mail", "mail-smtp"} <= kinds["Service"]
    assert {"contacts-migrate", "mail-migrate"} <= kinds["Job"]
    assert {"crm-config", "crm-mail"} <= kinds["ConfigMap"]


def test_k8s_pods_are_hardened_and_run_the_cli(k8s_objects):
    config_maps = {o["metadata"]["name"] for o in k8s_objects if o["kind"] == "ConfigMap"}
    for obj, template in _pod_specs(k8s_objects):
        spec = template["spec"]
        name = obj["metadata"]["name"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] == 10001, name
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in spec["containers"]:
            command = container["command"]
            assert command[:2] == ["python", "-m"] and command[2] in SERVICES, name
            assert command[3] in ("web", "worker", "migrate", *EXTRA_PROCESSES.get(command[2], ())), name
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert "/tmp/prometheus" in mounts and "/tmp" in mounts, name
            assert volumes[mounts["/keys/public"]]["secret"]["secretName"] == "crm-internal-public-key"
            if "/keys/private" in mounts:  # the signers of internal tokens: callers' and workflow runs'
                assert command[2:] in (["gateway", "web"], ["automation", "web"], ["automation", "worker"]), \
                    f"{name}: private key outside gateway web and automation"
                env = {e["name"]: e.get("value") for e in container["env"]}
                assert env["CRM_INTERNAL_PRIVATE_KEY_FILE"] == "/keys/private/internal-ed25519.pem", name
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps
            env_names = {e["name"] for e in container.get("env", [])}
            assert "CRM_DATABASE_URL" in env_names, name
            assert ("CRM_DATABASE_OWNER_URL" in env_names) == (command[3] == "migrate"), name


def test_k8s_probes_and_scrape_annotations(k8s_objects):
    for obj, template in _pod_specs(k8s_objects):
        if obj["kind"] != "Deployment":
            continue
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/path"] == "/metrics"
        (container,) = template["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        kind = container["command"][3]
        if kind == "web":
            # The gateway's metrics are on its internal listener only.
            scrape = "8001" if container["command"][2] == "gateway" else "8000"
            assert ports["http"] == 8000 and annotations["prometheus.io/port"] == scrape
            if scrape == "8001":
                assert ports["internal"] == 8001
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        else:
            assert ports["metrics"] == 9100 and annotations["prometheus.io/port"] == "9100"
            if kind == "smtp":  # the listener itself: a pod that stops accepting mail is restarted
                assert container["livenessProbe"]["tcpSocket"]["port"] == "smtp" in ports
                assert container["readinessProbe"]["tcpSocket"]["port"] == "smtp"
            else:
                assert container["livenessProbe"]["httpGet"]["port"] == "metrics"
            env = {e["name"]: e.get("value") for e in container["env"]}
            assert env["CRM_METRICS_ADDR"] == "0.0.0.0"


def test_k8s_services_select_web_pods(k8s_objects):
    deployments = [o for o in k8s_objects if o["kind"] == "Deployment"]
    for service in (o for o in k8s_objects if o["kind"] == "Service"):
        selector = service["spec"]["selector"]
        matches = [d for d in deployments
                   if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert len(matches) == 1, service["metadata"]["name"]
        container = matches[0]["spec"]["template"]["spec"]["containers"][0]
        assert container["command"][3] in ("web", "smtp"), service["metadata"]["name"]
        ports = {p["name"] for p in container["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, service["metadata"]["name"]
            if container["command"][3] == "smtp":  # an MX target answers on 25
                assert port["port"] == 25 and port["targetPort"] == "smtp"


def test_k8s_readme_lists_every_referenced_secret(k8s_objects):
    readme = (DEPLOY / "kubernetes" / "README.md").read_text()
    secrets = set()
    for _, template in _pod_specs(k8s_objects):
        for volume in template["spec"]["volumes"]:
            if "secret" in volume:
                secrets.add(volume["secret"]["secretName"])
        for container in template["spec"]["containers"]:
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    secrets.add(ref["name"])
    assert secrets
    for secret in secrets:
        assert re.search(rf"create secret generic {re.escape(secret)}\s", readme), secret


def test_keys_readme_matches_compose_paths():
    text = (DEPLOY / "keys" / "README.md").read_text()
    assert "/keys/private/internal-ed25519.pem" in text
    assert "/keys/public/internal-ed25519.pub.pem" in text
    assert "python deploy/keys/keygen.py" in text
