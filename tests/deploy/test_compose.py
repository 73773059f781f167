"""Structural checks of docker-compose.yml, the Prometheus/Grafana config and the
Dockerfile. No Docker engine needed: files are parsed and cross-checked."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from compose_support import (
    DEPLOY,
    ENV_EXAMPLE,
    EXTRA_PROCESSES,
    REPO,
    SERVICES,
    SMTP_PORT,
    WEB_PORT,
    WORKER_PORT,
    by_kind,
    command_of,
    default_values,
    depends_of,
    dockerfile_instructions,
    env_of,
    is_one_shot,
    process_kind,
    volumes_of,
)

# Metric name -> label names, as emitted by the services (histograms add
# _bucket/_sum/_count and `le`).
METRICS: dict[str, set[str]] = {
    "crm_http_requests_total": {"service", "route", "method", "status"},
    "crm_http_request_duration_seconds": {"service", "route", "method"},
    "crm_outbox_backlog": {"service"},
    "crm_relay_lag_seconds": {"service"},
    "crm_events_published_total": {"service", "topic"},
    "crm_consumer_lag": {"service", "group", "topic"},
    "crm_event_handling_seconds": {"service", "type"},
    "crm_events_consumed_total": {"service", "type"},
    "crm_events_dead_lettered_total": {"service", "topic"},
    "crm_rate_limit_rejections_total": {"scope"},
    "crm_signups_total": set(),
    "crm_deals_won_total": set(),
    "crm_tickets_breached_total": set(),
    "crm_webhook_deliveries_total": {"outcome"},
    # mail: outcome sent|deferred|failed|bounced|suppressed; purpose transactional|notification|marketing;
    # inbound outcome accepted|refused|oversize|error.
    "crm_mail_messages_total": {"outcome"},
    "crm_mail_queue_oldest_seconds": {"purpose"},
    "crm_mail_inbound_total": {"outcome"},
}
HISTOGRAMS = {"crm_http_request_duration_seconds", "crm_event_handling_seconds"}
# Labels added by Prometheus (targets) or prometheus_client multiprocess mode.
TARGET_LABELS = {"job", "instance", "component", "pid", "le"}


# --------------------------------------------------------------------------- compose


def test_expected_services_exist(services):
    for infra in ("postgres", "kafka", "redis", "keygen", "prometheus", "grafana"):
        assert infra in services, infra
    for s in SERVICES:
        for name in (s, f"{s}-migrate", f"{s}-worker", *(f"{s}-{k}" for k in EXTRA_PROCESSES.get(s, ()))):
            assert name in services, name


def test_every_service_has_image_or_build(services):
    for name, svc in services.items():
        assert svc.get("image") or svc.get("build"), name


def test_crm_processes_use_the_project_image_and_commands(services):
    images = set()
    for name, svc in services.items():
        pk = process_kind(svc)
        if pk is None:
            continue
        crm_service, kind = pk
        images.add(svc["image"])
        assert svc["build"]["dockerfile"] == "deploy/Dockerfile", name
        assert crm_service in SERVICES, name
        assert kind in ("web", "worker", "migrate", *EXTRA_PROCESSES.get(crm_service, ())), name
        expected_name = crm_service if kind == "web" else f"{crm_service}-{kind}"
        assert name == expected_name, (name, command_of(svc))
    assert len(images) == 1, images
    assert services["keygen"]["image"] in images
    assert command_of(services["keygen"]) == ["python", "/app/deploy/keys/keygen.py"]


def test_long_running_services_have_healthchecks(services):
    for name, svc in services.items():
        hc = svc.get("healthcheck") or {}
        if is_one_shot(name):
            assert svc.get("restart") == "no", f"{name}: one-shot must not restart"
            continue
        assert hc.get("test") and not hc.get("disable"), f"{name} has no healthcheck"
        assert svc.get("restart") in ("unless-stopped", "always", "on-failure"), name


def test_healthcheck_probes_match_process_kind(services):
    for name, svc in services.items():
        pk = process_kind(svc)
        if pk is None or pk[1] == "migrate":
            continue
        test = svc["healthcheck"]["test"]
        assert test[:3] == ["CMD", "python", "-c"], name
        compile(test[3], f"<healthcheck {name}>", "exec")
        if pk[1] == "smtp":  # an SMTP NOOP on the listening port (see test_mail_smtp_healthcheck_*)
            assert f"smtplib.SMTP('127.0.0.1', {SMTP_PORT}" in test[3] and ".noop()" in test[3], name
            continue
        port = WEB_PORT if pk[1] == "web" else WORKER_PORT
        path = "/healthz" if pk[1] == "web" else "/metrics"
        assert f"127.0.0.1:{port}{path}" in test[3], name


def test_depends_on_targets_exist_and_conditions_make_sense(services):
    for name, svc in services.items():
        for target, condition in depends_of(svc).items():
            assert target in services, f"{name} depends on unknown {target}"
            assert target != name
            if condition == "service_healthy":
                assert services[target].get("healthcheck", {}).get("test"), (name, target)
            elif condition == "service_completed_successfully":
                assert is_one_shot(target), (name, target)
            else:
                assert condition == "service_started", (name, target, condition)


def test_database_users_wait_for_postgres_and_their_migration(services):
    users = [name for name, svc in services.items() if "CRM_DATABASE_URL" in env_of(svc)]
    assert len(users) == 3 * len(SERVICES) + sum(map(len, EXTRA_PROCESSES.values()))
    for name in users:
        deps = depends_of(services[name])
        assert deps.get("postgres") == "service_healthy", name
        if name.endswith("-migrate"):
            continue
        base = process_kind(services[name])[0]
        assert deps.get(f"{base}-migrate") == "service_completed_successfully", name


def test_workers_wait_for_kafka(services):
    workers = by_kind(services, "worker")
    assert set(workers) == {f"{s}-worker" for s in SERVICES}
    for name in workers:
        assert depends_of(services[name]).get("kafka") == "service_healthy", name


def test_gateway_waits_for_redis_and_the_services(services):
    deps = depends_of(services["gateway"])
    assert deps.get("redis") == "service_healthy"
    for s in SERVICES:
        if s != "gateway":
            assert s in deps, s


def test_database_urls_use_the_per_service_roles(services):
    for name, svc in services.items():
        env = env_of(svc)
        pk = process_kind(svc)
        if pk is None:
            assert "CRM_DATABASE_URL" not in env, name
            continue
        crm_service, kind = pk
        app_url = default_values(env["CRM_DATABASE_URL"])
        assert re.fullmatch(
            rf"postgresql\+psycopg://{crm_service}_app:[^@/]+@postgres:5432/crm_{crm_service}",
            app_url,
        ), (name, app_url)
        if kind == "migrate":
            owner_url = default_values(env["CRM_DATABASE_OWNER_URL"])
            assert re.fullmatch(
                rf"postgresql\+psycopg://{crm_service}_owner:[^@/]+@postgres:5432/crm_{crm_service}",
                owner_url,
            ), (name, owner_url)
        else:
            assert "CRM_DATABASE_OWNER_URL" not in env, f"{name}: owner role is for migrations only"


def test_postgres_gets_every_role_password_used_in_urls(services):
    pg_env = env_of(services["postgres"])
    for s in SERVICES:
        for role in ("OWNER", "APP"):
            var = f"CRM_{s.upper()}_DB_{role}_PASSWORD"
            assert pg_env.get(var) == f"${{{var}:-dev_{s}_{role.lower()}}}", var


def test_common_environment(services):
    for name, svc in services.items():
        pk = process_kind(svc)
        if pk is None:
            continue
        crm_service, kind = pk
        env = env_of(svc)
        assert env["CRM_KAFKA_BOOTSTRAP"] == "kafka:9092", name
        assert env["CRM_LOG_LEVEL"], name
        assert env["PROMETHEUS_MULTIPROC_DIR"] == "/tmp/prometheus", name
        assert "/tmp/prometheus" in (svc.get("tmpfs") or []), name
        if kind not in ("web", "migrate"):  # workers and mail-smtp serve /metrics on CRM_METRICS_PORT
            assert env["CRM_METRICS_PORT"] == WORKER_PORT, name
            # crm_runtime binds the worker's metrics server to 127.0.0.1 unless told.
            assert env["CRM_METRICS_ADDR"] == "0.0.0.0", name
        if kind == "web":
            assert "GUNICORN_WORKERS" in env and "GUNICORN_THREADS" in env, name
        if crm_service == "automation":
            assert default_values(env["CRM_WEBHOOK_ALLOW_PRIVATE"]) == "false", name
        assert svc.get("init") is True, f"{name}: needs an init for signal forwarding"


# Who signs internal tokens: the gateway web (for callers) and the automation worker (for workflow runs).
PRIVATE_KEY_HOLDERS = ("gateway", "automation", "automation-worker")


def test_internal_keys_are_provisioned_and_private_key_only_where_tokens_are_signed(services):
    keygen = services["keygen"]
    keygen_env = env_of(keygen)
    keygen_mounts = {target: source for source, target, _ in volumes_of(keygen)}
    public_file = keygen_env["CRM_INTERNAL_PUBLIC_KEY_FILE"]
    private_file = keygen_env["CRM_INTERNAL_PRIVATE_KEY_FILE"]
    public_dir, private_dir = str(Path(public_file).parent), str(Path(private_file).parent)
    assert keygen_mounts[public_dir] != keygen_mounts[private_dir]

    for name, svc in services.items():
        if process_kind(svc) is None:
            continue
        env = env_of(svc)
        mounts = {target: (source, mode) for source, target, mode in volumes_of(svc)}
        assert env["CRM_INTERNAL_PUBLIC_KEY_FILE"] == public_file, name
        assert mounts[public_dir] == (keygen_mounts[public_dir], "ro"), name
        assert depends_of(svc).get("keygen") == "service_completed_successfully", name
        if name in PRIVATE_KEY_HOLDERS:
            assert env["CRM_INTERNAL_PRIVATE_KEY_FILE"] == private_file, name
            assert mounts[private_dir] == (keygen_mounts[private_dir], "ro"), name
        else:
            assert "CRM_INTERNAL_PRIVATE_KEY_FILE" not in env, name
            assert private_dir not in mounts, name
        if name == "gateway":
            # gateway.app refuses to start with a shorter secret.
            assert len(default_values(env["CRM_JWT_SECRET"])) >= 32
            assert env["CRM_REDIS_URL"].startswith("redis://redis:")
        else:
            assert "CRM_JWT_SECRET" not in env, name


def test_gateway_routes_point_at_web_services(services):
    env = env_of(services["gateway"])
    for s in SERVICES:
        if s == "gateway":
            continue
        url = env[f"CRM_{s.upper()}_URL"]
        assert url == f"http://{s}:{WEB_PORT}", url
        assert process_kind(services[s]) == (s, "web")
    assert any(str(p).endswith(f":{WEB_PORT}") for p in services["gateway"]["ports"])


def test_automation_calls_the_web_services(services):
    for name in ("automation", "automation-worker"):
        env = env_of(services[name])
        for s in SERVICES:
            if s not in ("gateway", "automation"):
                assert env[f"CRM_{s.upper()}_URL"] == f"http://{s}:{WEB_PORT}", (name, s)


def test_bind_mounts_exist(services):
    for name, svc in services.items():
        for source, _, _ in volumes_of(svc):
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), f"{name}: missing {source}"


def test_named_volumes_are_declared(compose, services):
    declared = set(compose.get("volumes") or {})
    for name, svc in services.items():
        for source, _, _ in volumes_of(svc):
            if not source.startswith((".", "/")):
                assert source in declared, f"{name}: undeclared volume {source}"


_VAR_RE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)((?::?[-?+])([^}]*))?\}")


def _env_example_vars() -> set[str]:
    names = set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.add(line.split("=", 1)[0].strip())
    return names


def test_variable_references_have_defaults_or_are_documented(compose_text):
    documented = _env_example_vars()
    refs = _VAR_RE.findall(compose_text)
    assert refs
    for name, modifier, _ in refs:
        assert modifier.startswith(":-") or name in documented, f"${{{name}}} has no default"
    # No bare $VAR (compose would interpolate it too).
    bare = re.findall(r"(?<!\$)\$(?![{$])([A-Za-z_][A-Za-z0-9_]*)", compose_text)
    assert not bare, bare


def test_env_example_documents_every_variable_with_the_same_default(compose_text):
    documented = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, value = line.split("=", 1)
            documented[key.strip()] = value.strip().strip('"')
    defaults: dict[str, set[str]] = {}
    for name, modifier, value in _VAR_RE.findall(compose_text):
        if modifier.startswith(":-"):
            defaults.setdefault(name, set()).add(value)
    for name, values in defaults.items():
        assert len(values) == 1, f"{name} has different defaults: {values}"
        assert documented.get(name) == next(iter(values)), name
    assert set(documented) <= set(defaults), set(documented) - set(defaults)


# --------------------------------------------------------------------------- Prometheus


@pytest.fixture(scope="module")
def prometheus_config() -> dict:
    return yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())


def _targets(config: dict, job: str) -> set[str]:
    jobs = [j for j in config["scrape_configs"] if j["job_name"] == job]
    assert len(jobs) == 1, job
    assert jobs[0].get("metrics_path", "/metrics") == "/metrics"
    return {t for sc in jobs[0]["static_configs"] for t in sc["targets"]}


def test_prometheus_scrapes_every_web_and_worker(prometheus_config, services):
    webs = by_kind(services, "web")
    workers = by_kind(services, "worker")
    assert len(webs) == len(workers) == len(SERVICES)
    # The gateway's /metrics is only on its internal listener (CRM_INTERNAL_PORT), never the public port.
    assert _targets(prometheus_config, "crm-web") == {f"{n}:{8001 if n == 'gateway' else WEB_PORT}" for n in webs}
    assert services["gateway"]["environment"]["CRM_INTERNAL_PORT"] == "8001"
    assert _targets(prometheus_config, "crm-worker") == {f"{n}:{WORKER_PORT}" for n in workers}
    smtp = by_kind(services, "smtp")
    assert set(smtp) == {"mail-smtp"}
    assert _targets(prometheus_config, "crm-smtp") == {f"{n}:{WORKER_PORT}" for n in smtp}
    # Every scrape job of a CRM process is covered by CRMTargetDown (up{job=~"crm-.*"}).
    assert all(j["job_name"].startswith("crm-") for j in prometheus_config["scrape_configs"]
               if j["job_name"] != "prometheus")


def test_prometheus_loads_the_alert_rules(prometheus_config, services):
    mounts = {target: source for source, target, _ in volumes_of(services["prometheus"])}
    assert mounts["/etc/prometheus"] == "./deploy/prometheus"
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]
    for rule_file in prometheus_config["rule_files"]:
        assert rule_file.startswith("/etc/prometheus/")
        assert (DEPLOY / "prometheus" / rule_file.removeprefix("/etc/prometheus/")).is_file()


_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_METRIC_TOKEN_RE = re.compile(r"\b(crm_[a-z0-9_]+)\b")
_SELECTOR_RE = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
_GROUPING_RE = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")


def _base_metric(token: str) -> str | None:
    if token in METRICS:
        return token
    for suffix in ("_bucket", "_sum", "_count"):
        base = token.removesuffix(suffix)
        if base != token and base in HISTOGRAMS:
            return base
    return None


def check_promql(expr: str, allow_up: bool = False) -> set[str]:
    """Metric names and labels of a PromQL expression must be the platform's.

    Returns the base metric names referenced.
    """
    depth = 0
    for ch in expr:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        assert depth >= 0, f"unbalanced parentheses: {expr}"
    assert depth == 0, f"unbalanced parentheses: {expr}"
    assert expr.count("{") == expr.count("}"), expr
    assert expr.count("[") == expr.count("]"), expr

    without_strings = _STRING_RE.sub('""', expr)
    metrics: set[str] = set()
    for token in _METRIC_TOKEN_RE.findall(without_strings):
        base = _base_metric(token)
        assert base is not None, f"unknown metric {token!r} in {expr}"
        metrics.add(base)
    uses_up = re.search(r"\bup\b", without_strings) is not None
    assert metrics or (allow_up and uses_up), f"no platform metric in {expr}"

    known_labels = set(TARGET_LABELS)
    for metric in metrics:
        known_labels |= METRICS[metric]
    for name, matchers in _SELECTOR_RE.findall(without_strings):
        base = _base_metric(name)
        allowed = (METRICS[base] | TARGET_LABELS) if base else TARGET_LABELS
        for label in re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", matchers):
            assert label in allowed, f"label {label!r} not on {name}: {expr}"
    for group in _GROUPING_RE.findall(without_strings):
        for label in (part.strip() for part in group.split(",")):
            if label:
                assert label in known_labels, f"label {label!r} unknown in: {expr}"
    return metrics


def test_alert_rules_are_well_formed():
    rules_doc = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    names = []
    referenced: set[str] = set()
    exprs = []
    for group in rules_doc["groups"]:
        assert group["name"] and group["rules"]
        for rule in group["rules"]:
            assert "alert" in rule and "record" not in rule
            names.append(rule["alert"])
            assert isinstance(rule.get("expr"), str) and rule["expr"].strip(), rule["alert"]
            assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
            assert rule["annotations"]["summary"], rule["alert"]
            if "for" in rule:
                assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
            referenced |= check_promql(rule["expr"], allow_up=True)
            exprs.append(rule["expr"])
    assert len(names) == len(set(names)), "duplicate alert names"
    # The conditions the platform must alert on.
    for metric in ("crm_http_requests_total", "crm_http_request_duration_seconds",
                   "crm_outbox_backlog", "crm_relay_lag_seconds", "crm_consumer_lag",
                   "crm_events_dead_lettered_total", "crm_rate_limit_rejections_total",
                   "crm_mail_messages_total", "crm_mail_queue_oldest_seconds", "crm_mail_inbound_total"):
        assert metric in referenced, metric
    assert any(re.search(r'status=~"5', e) for e in exprs), "no 5xx ratio alert"
    assert any(re.search(r"\bup\b", e) for e in exprs), "no target-down alert"


# --------------------------------------------------------------------------- Grafana


def test_grafana_provisioning_matches_compose(services):
    mounts = {target: source for source, target, _ in volumes_of(services["grafana"])}
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    datasources = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"]
    assert len(datasources) == 1
    ds = datasources[0]
    assert ds["type"] == "prometheus" and ds["uid"] == "prometheus"
    host = re.match(r"http://([^:/]+):(\d+)", ds["url"])
    assert host and host.group(1) in services and host.group(2) == "9090"

    providers = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/dashboards/crm.yml").read_text()
    )["providers"]
    path = providers[0]["options"]["path"]
    assert mounts[path] == "./deploy/grafana/dashboards"


def test_grafana_dashboard_panels_query_platform_metrics():
    dashboard = json.loads((DEPLOY / "grafana/dashboards/crm-platform.json").read_text())
    assert dashboard["uid"] and dashboard["title"]
    panels = dashboard["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "duplicate panel ids"

    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            assert variable["datasource"]["uid"] == "prometheus"
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            metric = re.match(r"label_values\((\w+),\s*(\w+)\)", query)
            assert metric and metric.group(1) in METRICS
            assert metric.group(2) in METRICS[metric.group(1)]

    referenced: set[str] = set()
    occupied: set[tuple[int, int]] = set()
    for panel in panels:
        pos = panel["gridPos"]
        assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"])
                 for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not cells & occupied, f"panel {panel['title']!r} overlaps another"
        occupied |= cells
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "prometheus", panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            referenced |= check_promql(target["expr"])

    assert referenced == set(METRICS), f"not on the dashboard: {set(METRICS) - referenced}"


# --------------------------------------------------------------------------- Dockerfile


def test_dockerfile_installs_hash_checked_dependencies():
    runs = [rest for kw, rest in dockerfile_instructions() if kw == "RUN"]
    pip = [r for r in runs if "pip install" in r]
    assert pip, "no pip install"
    for command in pip:
        assert "--require-hashes" in command, command
        assert "-r /app/requirements.lock" in command or "-r requirements.lock" in command
        assert "--no-cache-dir" in command


def test_dockerfile_runs_as_non_root():
    instructions = dockerfile_instructions()
    users = [rest for kw, rest in instructions if kw == "USER"]
    assert users, "no USER instruction"
    final_user = users[-1].split(":")[0]
    assert final_user not in ("root", "0"), final_user
    # The last USER comes after everything that needs root.
    last_user_at = max(i for i, (kw, _) in enumerate(instructions) if kw == "USER")
    assert all(kw != "RUN" for kw, _ in instructions[last_user_at:])


def test_dockerfile_layout_and_environment():
    instructions = dockerfile_instructions()
    # The console's build stage first, then the runtime image it hands its static files to
    stages = [rest for kw, rest in instructions if kw == "FROM"]
    assert stages == ["node:20-slim AS console", "python:3.11-slim"]
    runtime = instructions[[kw for kw, _ in instructions].index("FROM", 1):]
    console = instructions[:len(instructions) - len(runtime)]
    assert ("RUN", "npm ci --no-audit --no-fund") in console and ("RUN", "npm run build") in console
    assert ("COPY", "--from=console /web/dist/ /app/web/dist/") in runtime
    instructions = runtime
    copies = [rest.split() for kw, rest in instructions if kw == "COPY" and not rest.startswith("--from")]
    sources = {part[0].rstrip("/") for part in copies}
    assert {"requirements.lock", "libs", "services", "deploy"} <= sources
    assert not [kw for kw, _ in instructions if kw == "ADD"]
    env_text = " ".join(rest for kw, rest in instructions if kw == "ENV")
    pythonpath = re.search(r"PYTHONPATH=(\S+)", env_text).group(1).split(":")
    assert pythonpath[0] == "/app/libs"
    assert set(pythonpath[1:]) == {f"/app/services/{s}" for s in SERVICES}
    assert "PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus" in env_text
    assert "CRM_CONSOLE_DIR=/app/web/dist" in env_text
    healthcheck = [rest for kw, rest in instructions if kw == "HEALTHCHECK"]
    assert healthcheck and "urllib.request" in healthcheck[0]
    assert (DEPLOY / "gunicorn.conf.py").is_file()


def test_dockerignore_keeps_local_state_out_of_the_context():
    entries = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()}
    for pattern in (".venv", ".cache", "var", ".git", "**/__pycache__", ".env"):
        assert pattern in entries, pattern
    for needed in ("libs", "services", "deploy", "requirements.lock"):
        assert needed not in entries, needed
