"""Shared by the deployment tests: where the files are, what the catalog says runs, and readers of
docker-compose.yml / the Dockerfile (fixtures in conftest.py)."""

from __future__ import annotations

import re
from pathlib import Path

from crm_runtime.catalog import SERVICES as CATALOG

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DEPLOY = REPO / "deploy"

SERVICES = tuple(s.name for s in CATALOG)  # every service of the catalog, mail included
# Long-running processes beyond web and worker: compose service <svc>-<kind>, `python -m <svc> <kind>`.
EXTRA_PROCESSES = {"mail": ("smtp",)}
SMTP_PORT = "25"  # mail-smtp inside its container
ONE_SHOT_SUFFIX = "-migrate"
ONE_SHOTS_BY_NAME = {"keygen"}
WEB_PORT = "8000"
WORKER_PORT = "9100"


def is_one_shot(name: str) -> bool:
    return name in ONE_SHOTS_BY_NAME or name.endswith(ONE_SHOT_SUFFIX)


def command_of(svc: dict) -> list[str]:
    cmd = svc.get("command", [])
    return cmd.split() if isinstance(cmd, str) else list(cmd)


def process_kind(svc: dict) -> tuple[str, str] | None:
    """('contacts', 'web') for `python -m contacts web`, else None."""
    cmd = command_of(svc)
    if len(cmd) == 4 and cmd[:2] == ["python", "-m"]:
        return cmd[2], cmd[3]
    return None


def env_of(svc: dict) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def depends_of(svc: dict) -> dict[str, str]:
    deps = svc.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def volumes_of(svc: dict) -> list[tuple[str, str, str]]:
    out = []
    for vol in svc.get("volumes") or []:
        if isinstance(vol, dict):
            out.append((vol.get("source", ""), vol["target"], "ro" if vol.get("read_only") else "rw"))
        else:
            parts = vol.split(":")
            out.append((parts[0], parts[1], parts[2] if len(parts) > 2 else "rw"))
    return out


def default_values(value: str) -> str:
    """Apply compose interpolation with defaults only (what runs without .env)."""
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?-([^}]*)\}", r"\2", value)


def by_kind(services: dict[str, dict], kind: str) -> dict[str, str]:
    """compose service name -> CRM service, for processes of the given kind."""
    out = {}
    for name, svc in services.items():
        pk = process_kind(svc)
        if pk and pk[1] == kind:
            out[name] = pk[0]
    return out


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)  # join continuation lines
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out
