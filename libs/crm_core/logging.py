"""JSON-lines logging with request_id, tenant_id and service on every line."""

from __future__ import annotations

import json
import logging
import sys
import time

from crm_core import context


class JsonFormatter(logging.Formatter):
    """One JSON object per line. Every request writes one (the access line), so the per-record
    work is kept small: the second's timestamp is formatted once per second, the encoder is built
    once (json.dumps with `default=` builds one per call)."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service
        self._encoder = json.JSONEncoder(default=str)
        self._second: tuple[int, str] = (-1, "")

    def _timestamp(self, created: float, msecs: float) -> str:
        second = int(created)
        cached = self._second  # one tuple, read and replaced whole: safe across threads
        if cached[0] != second:
            cached = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
            self._second = cached
        return f"{cached[1]}.{int(msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        tenant = context.current_tenant()
        line = {
            "ts": self._timestamp(record.created, record.msecs),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": context.current_request_id(),
            "tenant_id": str(tenant) if tenant else None,
        }
        fields = getattr(record, "fields", None)
        if fields:
            line.update(fields)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return self._encoder.encode(line)


def configure(service: str, level: str = "INFO") -> None:
    """Route the root logger to stderr as JSON lines; idempotent."""
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    handler.set_name("crm-json")
    root.handlers = [h for h in root.handlers if h.get_name() != "crm-json"] + [handler]
    root.setLevel(level.upper())
    for noisy in ("kafka", "urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
