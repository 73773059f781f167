"""Settings read from environment variables, once, into one object per process."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _env_bool(name: str, default: bool = False) -> bool:
    value = _env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _read_key(inline_var: str, file_var: str) -> str | None:
    inline = _env(inline_var)
    if inline:
        return inline.replace("\\n", "\n")
    path = _env(file_var)
    if path:
        return Path(path).read_text()
    return None


@dataclass(frozen=True)
class Settings:
    """Everything a service process needs from its environment.

    `database_url` may contain `{service}`, so one value can serve every service of a
    launcher (`postgresql+psycopg://crm_app:...@db/crm_{service}`).
    """

    service: str
    database_url: str
    database_owner_url: str
    kafka_bootstrap: str | None
    redis_url: str | None
    var_dir: Path
    internal_public_key: str | None
    internal_private_key: str | None
    log_level: str = "INFO"
    metrics_port: int = 9100
    # Put before every Kafka topic name: environments (or test runs) sharing one cluster keep apart.
    kafka_topic_prefix: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, service: str, **overrides: object) -> Settings:
        var_dir = Path(_env("CRM_VAR_DIR", str(REPO_ROOT / "var")) or "var")
        default_db = f"sqlite:///{var_dir / (service + '.db')}"
        database_url = (_env("CRM_DATABASE_URL", default_db) or default_db).replace("{service}", service)
        owner_url = (_env("CRM_DATABASE_OWNER_URL", database_url) or database_url).replace("{service}", service)
        values: dict[str, object] = {
            "service": service,
            "database_url": database_url,
            "database_owner_url": owner_url,
            "kafka_bootstrap": _env("CRM_KAFKA_BOOTSTRAP"),
            "redis_url": _env("CRM_REDIS_URL"),
            "var_dir": var_dir,
            "internal_public_key": _read_key("CRM_INTERNAL_PUBLIC_KEY", "CRM_INTERNAL_PUBLIC_KEY_FILE"),
            "internal_private_key": _read_key("CRM_INTERNAL_PRIVATE_KEY", "CRM_INTERNAL_PRIVATE_KEY_FILE"),
            "log_level": _env("CRM_LOG_LEVEL", "INFO") or "INFO",
            "metrics_port": int(_env("CRM_METRICS_PORT", "9100") or "9100"),
            "kafka_topic_prefix": _env("CRM_KAFKA_TOPIC_PREFIX", "") or "",
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def get(self, name: str, default: str | None = None) -> str | None:
        """A service-specific setting: `extra` first, then the environment."""
        if name in self.extra:
            return self.extra[name]
        return _env(name, default)

    def get_bool(self, name: str, default: bool = False) -> bool:
        if name in self.extra:
            return self.extra[name].strip().lower() in {"1", "true", "yes", "on"}
        return _env_bool(name, default)
