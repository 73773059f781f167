"""The mail service's deployment: its inbound SMTP server in compose and Kubernetes, the mail
settings every mail process gets (and that mail.config reads them as meant), the Maildir volume,
and the smtp healthcheck run against a real SMTP server."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from compose_support import (
    REPO,
    SMTP_PORT,
    WEB_PORT,
    default_values,
    dockerfile_instructions,
    env_of,
    volumes_of,
)

from crm_core.settings import Settings
from crm_testing.provision import free_port

MAIL_PROCESSES = ("mail", "mail-worker", "mail-smtp")  # everything of mail that runs, migrate aside
SMTP_ONLY = {"CRM_INBOUND_SMTP_HOST", "CRM_INBOUND_SMTP_PORT"}
MAIL_SETTINGS = {"CRM_SMTP_URL", "CRM_INBOUND_DOMAIN", "CRM_PUBLIC_URL", "CRM_MAIL_DEFAULT_FROM",
                 "CRM_MAIL_MAX_MESSAGE_MIB", "CRM_MAIL_CONNECTIONS", "CRM_MAIL_RATE_PER_SECOND",
                 "CRM_MAIL_TENANT_RATE_PER_SECOND"}
MAIL_CONFIG = REPO / "services" / "mail" / "mail" / "config.py"


def _mail_names(env: dict[str, str]) -> set[str]:
    return {k for k in env if k.startswith(("CRM_MAIL_", "CRM_SMTP_", "CRM_INBOUND_")) or k == "CRM_PUBLIC_URL"}


def _read_by_mail_config() -> set[str]:
    # mail.config reads the domains through crm_mail.requests (the rule requesters share)
    shared = MAIL_CONFIG.parents[3] / "libs" / "crm_mail" / "requests.py"
    return {name for path in (MAIL_CONFIG, shared) for name in re.findall(r'"(CRM_[A-Z0-9_]+)"', path.read_text())}


def _image_env(name: str) -> str:
    env_text = " ".join(rest for kw, rest in dockerfile_instructions() if kw == "ENV")
    match = re.search(rf"\b{name}=(\S+)", env_text)
    assert match, name
    return match.group(1)


# --------------------------------------------------------------------------- compose


def test_mail_smtp_listens_on_25_published_on_the_host(services):
    smtp = services["mail-smtp"]
    env = env_of(smtp)
    assert env["CRM_INBOUND_SMTP_HOST"] == "0.0.0.0"  # reachable through the published port
    assert env["CRM_INBOUND_SMTP_PORT"] == SMTP_PORT
    assert [default_values(str(p)) for p in smtp["ports"]] == [f"2525:{SMTP_PORT}"]
    assert smtp["ports"] == ["${CRM_SMTP_PORT:-2525}:25"]
    # The image's user is not root: port 25 needs the unprivileged-port sysctl.
    assert int(smtp["sysctls"]["net.ipv4.ip_unprivileged_port_start"]) <= int(SMTP_PORT)
    # Only mail-smtp publishes an SMTP port, and no other mail process listens for SMTP.
    for name in MAIL_PROCESSES:
        if name != "mail-smtp":
            assert not SMTP_ONLY & set(env_of(services[name])), name


def test_every_mail_process_gets_the_same_mail_settings(services):
    envs = {name: env_of(services[name]) for name in MAIL_PROCESSES}
    for name, env in envs.items():
        assert _mail_names(env) - SMTP_ONLY == MAIL_SETTINGS, name
        for var in MAIL_SETTINGS:
            assert env[var] == envs["mail"][var], (name, var)
    env = envs["mail"]
    assert default_values(env["CRM_SMTP_URL"]) == ""  # the Maildir, until pointed at a relay
    assert default_values(env["CRM_INBOUND_DOMAIN"]) == "inbound.localhost"
    gateway = env_of(services["gateway"])
    assert gateway["CRM_PUBLIC_URL"] == env["CRM_PUBLIC_URL"]
    host_port = default_values(services["gateway"]["ports"][0]).split(":")[0]
    assert default_values(env["CRM_PUBLIC_URL"]) == f"http://localhost:{host_port}"
    assert gateway["CRM_MAIL_URL"] == f"http://mail:{WEB_PORT}"
    # Every mail variable of the compose file is one mail.config reads (no typo goes unnoticed).
    assert _mail_names(envs["mail-smtp"]) <= _read_by_mail_config()


def test_compose_defaults_make_the_intended_mail_settings(services, monkeypatch):
    from mail.config import MailSettings

    for var in _read_by_mail_config():
        monkeypatch.delenv(var, raising=False)
    for var, value in env_of(services["mail-worker"]).items():
        if var in MAIL_SETTINGS:
            monkeypatch.setenv(var, default_values(value))
    monkeypatch.setenv("CRM_VAR_DIR", _image_env("CRM_VAR_DIR"))
    mail = MailSettings.from_settings(Settings.from_env("mail"))
    assert mail.smtp_url is None
    assert mail.maildir == Path("/var/lib/crm/mail/sent")
    assert mail.inbound_domain == "inbound.localhost"
    assert mail.default_from == "CRM <no-reply@inbound.localhost>"
    assert mail.public_url == "http://localhost:8080"
    assert mail.max_message_bytes == 25 * 1024 * 1024
    assert (mail.connections, mail.rate_per_second, mail.tenant_rate_per_second) == (4, 0.0, 0.0)


def test_mail_worker_keeps_the_maildir_in_a_named_volume(compose, services):
    var_dir = _image_env("CRM_VAR_DIR")
    mounts = {target: (source, mode) for source, target, mode in volumes_of(services["mail-worker"])}
    source, mode = mounts[f"{var_dir}/mail"]
    assert source in (compose.get("volumes") or {}) and mode == "rw"
    # A fresh named volume copies the image directory's owner: the runtime user must own it.
    runs = " ".join(rest for kw, rest in dockerfile_instructions() if kw == "RUN")
    assert re.search(rf"mkdir -p [^&]*{var_dir}/mail\b", runs)
    assert re.search(rf"chown crm:crm [^&]*{var_dir}/mail\b", runs)


def _run_healthcheck(code: str, port: int) -> int:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30).returncode


def test_mail_smtp_healthcheck_against_a_real_server(services):
    test = services["mail-smtp"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    target = f"'127.0.0.1', {SMTP_PORT}"
    assert test[3].count(target) == 1
    port = free_port()
    code = test[3].replace(target, f"'127.0.0.1', {port}")

    class Handler:  # accepts nothing; NOOP needs no handler hook
        pass

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert _run_healthcheck(code, port) == 0
    finally:
        controller.stop()
    assert _run_healthcheck(code, port) != 0  # nobody listening: unhealthy


# --------------------------------------------------------------------------- Kubernetes


def _by_name(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def _container(deployment: dict) -> dict:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def test_k8s_mail_smtp_service_is_an_mx_target_on_25(k8s_objects):
    deployment = _by_name(k8s_objects, "Deployment")["mail-smtp"]
    container = _container(deployment)
    assert container["command"] == ["python", "-m", "mail", "smtp"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["CRM_INBOUND_SMTP_HOST"] == "0.0.0.0"
    assert int(env["CRM_INBOUND_SMTP_PORT"]) == ports["smtp"] >= 1024  # non-root: no sysctl needed
    assert deployment["spec"]["replicas"] >= 2  # an MX without a single point of failure
    service = _by_name(k8s_objects, "Service")["mail-smtp"]
    assert service["spec"]["type"] in ("ClusterIP", "LoadBalancer")
    assert service["spec"]["ports"] == [{"name": "smtp", "port": 25, "targetPort": "smtp"}]


def test_k8s_mail_settings_relay_secret_and_maildir(k8s_objects):
    deployments = _by_name(k8s_objects, "Deployment")
    config_maps = _by_name(k8s_objects, "ConfigMap")
    assert set(config_maps["crm-mail"]["data"]) | {"CRM_PUBLIC_URL"} == MAIL_SETTINGS - {"CRM_SMTP_URL"}
    assert set(config_maps["crm-mail"]["data"]) <= _read_by_mail_config()
    assert config_maps["crm-config"]["data"]["CRM_PUBLIC_URL"].startswith("https://")
    for name in MAIL_PROCESSES:
        sources = {s["configMapRef"]["name"] for s in _container(deployments[name])["envFrom"]}
        assert sources == {"crm-config", "crm-mail"}, name

    worker = _container(deployments["mail-worker"])
    relay = {e["name"]: e for e in worker["env"]}["CRM_SMTP_URL"]["valueFrom"]["secretKeyRef"]
    assert relay == {"name": "crm-mail", "key": "smtp-url", "optional": True}
    # Read-only root filesystem: the Maildir needs its own writable volume.
    mounts = {m["mountPath"]: m for m in worker["volumeMounts"]}
    mount = mounts[f"{_image_env('CRM_VAR_DIR')}/mail"]
    assert not mount.get("readOnly")
    volumes = {v["name"]: v for v in deployments["mail-worker"]["spec"]["template"]["spec"]["volumes"]}
    assert "emptyDir" in volumes[mount["name"]] or "persistentVolumeClaim" in volumes[mount["name"]]

    gateway_env = {e["name"]: e.get("value") for e in _container(deployments["gateway"])["env"]}
    assert gateway_env["CRM_MAIL_URL"] == f"http://mail:{WEB_PORT}"
    assert _by_name(k8s_objects, "Service")["mail"]["spec"]["ports"][0]["port"] == int(WEB_PORT)


@pytest.mark.parametrize("readme", ["deploy/README.md", "deploy/kubernetes/README.md"])
def test_readmes_say_how_to_point_relay_and_mx_and_where_the_maildir_is(readme):
    text = (REPO / readme).read_text()
    for needle in ("CRM_SMTP_URL", "smtps://", "MX", "/var/lib/crm/mail/sent", "CRM_INBOUND_DOMAIN"):
        assert needle in text, needle
