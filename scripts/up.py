"""`make up`: migrate every service, start every web and worker process, stop them all on Ctrl-C.

Embedded default: SQLite files and the embedded event log under var/, no servers needed.
With CRM_DATABASE_URL / CRM_DATABASE_OWNER_URL (use `{service}` for the database name),
CRM_KAFKA_BOOTSTRAP and CRM_REDIS_URL set, the same command runs on PostgreSQL, Kafka and Redis.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "libs"), *(str(p) for p in sorted((ROOT / "services").iterdir()) if p.is_dir())]

from crm_core.internal_token import generate_keypair  # noqa: E402
from crm_core.settings import Settings  # noqa: E402
from crm_db.migrate import upgrade  # noqa: E402
from crm_db.roles import warn_if_owner_is_app  # noqa: E402
from crm_runtime.catalog import SERVICES  # noqa: E402
from crm_runtime.console_build import ConsoleBuildError, ensure_built  # noqa: E402


def _die_with_parent() -> None:
    """In each child before exec (Linux): SIGTERM when up.py dies, even of SIGKILL, so a killed
    `make up` never leaves servers running on its ports. Elsewhere Ctrl-C's stop_all is the only way."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def ensure_secrets(var: Path) -> dict[str, str]:
    """Keys for the embedded default, made once and kept under var/keys (never committed)."""
    keys = var / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    private, public = keys / "internal_ed25519.pem", keys / "internal_ed25519.pub.pem"
    if not private.exists():
        private_pem, public_pem = generate_keypair()
        private.write_text(private_pem)
        private.chmod(0o600)
        public.write_text(public_pem)
    env = {"CRM_INTERNAL_PUBLIC_KEY_FILE": str(public)}
    if not os.environ.get("CRM_JWT_SECRET"):
        jwt_file = keys / "jwt_secret"
        if not jwt_file.exists():
            jwt_file.write_text(secrets.token_urlsafe(48))
            jwt_file.chmod(0o600)
        env["CRM_JWT_SECRET"] = jwt_file.read_text().strip()
    env["_PRIVATE"] = str(private)
    return env


def mail_summary(var: Path) -> str:
    """Where email goes and comes in, as the mail service will use it (its own settings object)."""
    from mail.config import MailSettings

    mail = MailSettings.from_settings(Settings.from_env("mail", var_dir=var))
    if mail.smtp_url:
        relay = urllib.parse.urlsplit(mail.smtp_url)
        out = f"sent through the relay {relay.scheme}://{relay.hostname}:{relay.port or ''} (CRM_SMTP_URL)"
    else:
        out = f"not sent: written as .eml files to {mail.maildir / 'new'} (set CRM_SMTP_URL to send)"
    return (f"  outgoing mail: {out}\n"
            f"  incoming mail: SMTP on {mail.inbound_smtp_host}:{mail.inbound_smtp_port} for <mailbox>@{mail.inbound_domain}"
            " (a tenant's addresses: GET /v1/mail/addresses)\n")


def main() -> int:
    var = Path(os.environ.get("CRM_VAR_DIR") or ROOT / "var")
    var.mkdir(parents=True, exist_ok=True)
    port = int(os.environ.get("CRM_PORT", "8080"))
    base = ensure_secrets(var)
    private = base.pop("_PRIVATE")
    pythonpath = os.pathsep.join(sys.path[: 1 + len(SERVICES)])
    children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def stop_all(*_: object) -> None:
        # SIGTERM to each child only, not its group: a web server stops its own workers, and
        # workers signalled at once with their master died first, which granian logs as an
        # "[ERROR] Unexpected exit from worker-1". What is left of a group after that is killed.
        for _name, child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _name, child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()

    def on_sigterm(*_: object) -> None:
        raise KeyboardInterrupt  # one shutdown path for Ctrl-C and SIGTERM

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        urls = {}
        for i, info in enumerate(SERVICES):
            web_port = port if info.name == "gateway" else port + i
            urls[info.name] = f"http://127.0.0.1:{web_port}"
            settings = Settings.from_env(info.name, var_dir=var)
            process = importlib.import_module(f"{info.name}.__main__").PROCESS
            print(f"migrating {info.name} ...", flush=True)
            warn_if_owner_is_app(info.name, settings.database_url, settings.database_owner_url)
            upgrade(process.migrations, settings.database_owner_url)
        try:
            ensure_built()
        except ConsoleBuildError as exc:  # the API still comes up; the console's page says what to do
            print(f"the web console could not be built; the API works without it:\n{exc}", file=sys.stderr, flush=True)
        for i, info in enumerate(SERVICES):
            env = {**os.environ, **base, "PYTHONPATH": pythonpath, "CRM_VAR_DIR": str(var),
                   "CRM_METRICS_PORT": str(port + 1000 + i), "GUNICORN_WORKERS": os.environ.get("GUNICORN_WORKERS", "1"),
                   "GUNICORN_THREADS": os.environ.get("GUNICORN_THREADS", "8"),
                   "PROMETHEUS_MULTIPROC_DIR": str(var / "prometheus" / info.name),
                   # Links in email (verification, invitations) point at the gateway.
                   "CRM_PUBLIC_URL": os.environ.get("CRM_PUBLIC_URL") or f"http://127.0.0.1:{port}"}
            for name in ("CRM_INTERNAL_PRIVATE_KEY", "CRM_INTERNAL_PRIVATE_KEY_FILE"):  # given below, to its signers only
                env.pop(name, None)
            if info.name == "gateway":
                # /metrics and the detailed /readyz: on 127.0.0.1:<CRM_PORT + 2000> only.
                env["CRM_INTERNAL_PORT"] = str(port + 2000)
                env.update({f"CRM_{n.upper()}_URL": u for n, u in urls.items() if n != "gateway"})
            else:
                env.pop("CRM_INTERNAL_PORT", None)  # the gateway's alone: a second web would fight for it
            if info.name == "automation":
                # Workflows act through the services' APIs (automation.workflows.client), called
                # directly; the worker, which carries out the runs, signs their tokens (below).
                env.update({f"CRM_{n.upper()}_URL": u for n, u in urls.items() if n != "gateway"})
            bind = urls[info.name].removeprefix("http://")
            process = importlib.import_module(f"{info.name}.__main__").PROCESS
            for command in ("web", "worker", *process.servers):
                args = [sys.executable, "-m", info.name, command] + (["--bind", bind] if command == "web" else [])
                # Only the web server shares a multiprocess directory (emptied when it starts: by
                # gunicorn's master or crm_runtime.web for granian, per CRM_WEB_SERVER, which the
                # web processes inherit); a worker process serves its own /metrics from memory.
                child_env = env if command == "web" else {k: v for k, v in env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
                if command in process.servers:  # e.g. mail's inbound SMTP server: /metrics of its own
                    child_env = {**child_env, "CRM_METRICS_PORT": str(port + 1050 + i)}
                if (info.name, command) in (("gateway", "web"), ("automation", "web"), ("automation", "worker")):
                    # The signers of internal tokens, as deployed (deploy/README.md): the gateway web
                    # for the callers it authenticated, automation for workflows of any tenant (the
                    # `workflow` principal: runs in the worker, save-time checks and dry runs in
                    # the web). No other process holds the key.
                    child_env = {**child_env, "CRM_INTERNAL_PRIVATE_KEY_FILE": private}
                children.append((f"{info.name} {command}",
                                 subprocess.Popen(args, env=child_env, cwd=ROOT, start_new_session=True,
                                                  preexec_fn=_die_with_parent)))
        gateway = urls["gateway"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(gateway + "/readyz", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        else:
            print("the gateway did not become ready within 60 s", file=sys.stderr)
            return 1
        print(f"\nCRM platform is up: {gateway}\n  web console: {gateway}/\n"
              f"  API docs: {gateway}/docs   OpenAPI: {gateway}/v1/openapi.json\n"
              f"  gateway metrics: http://127.0.0.1:{port + 2000}/metrics (internal listener)\n"
              f"{mail_summary(var)}"
              "  Ctrl-C stops everything.\n", flush=True)
        while True:
            for name, child in children:
                if child.poll() is not None:
                    print(f"{name} exited with {child.returncode}; stopping the platform", file=sys.stderr)
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
        return 0
    finally:
        stop_all()


if __name__ == "__main__":
    sys.exit(main())
