"""The event envelope: CloudEvents 1.0 attributes plus tenant_id and request_id, as JSON."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from crm_core.ids import uuid7

SPEC_VERSION = "1.0"


def _default(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


# orjson writes datetimes and dataclasses itself unless told not to: datetimes must go through
# _default (UTC with a Z, like every other JSON here) and a dataclass is no JSON value.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps_bytes(value: Any) -> bytes:
    """Compact JSON as UTF-8, keys in insertion order: orjson (5-10x faster than json), falling back
    to json for what orjson refuses (integers beyond 64 bits, non-string keys, lone surrogates),
    which also raises json's TypeError for what neither can write. Non-ASCII text is written as
    UTF-8 rather than \\u escapes: the same JSON values."""
    try:
        return orjson.dumps(value, default=_default, option=_ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value, default=_default, separators=(",", ":")).encode()


def dumps(value: Any) -> str:
    return dumps_bytes(value).decode()


@dataclass(frozen=True)
class Event:
    type: str
    source: str
    tenant_id: str
    subject: str
    data: dict[str, Any]
    id: str = field(default_factory=lambda: str(uuid7()))
    time: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"))
    version: int = 1
    request_id: str | None = None
    specversion: str = SPEC_VERSION
    datacontenttype: str = "application/json"

    @property
    def aggregate(self) -> str:
        """`crm.deal.stage_changed` -> `deal`."""
        return self.type.split(".")[1]

    def to_dict(self) -> dict[str, Any]:
        # Field by field rather than dataclasses.asdict, which deep-copies `data` on every event.
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def to_json(self) -> str:
        return dumps(self.to_dict())

    @classmethod
    def from_json(cls, raw: bytes | str) -> Event:
        body = json.loads(raw)
        known = {k: body[k] for k in cls.__dataclass_fields__ if k in body}
        return cls(**known)


def topic_for(service: str, event_type: str) -> str:
    """Topic per ARCHITECTURE.md: crm.<service>.<aggregate>."""
    return f"crm.{service}.{event_type.split('.')[1]}"
