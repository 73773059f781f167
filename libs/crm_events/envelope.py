"""The event envelope: CloudEvents 1.0 attributes plus tenant_id and request_id, as JSON."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from crm_core.ids import uuid7
from crm_core.jsoncodec import _default, dumps_bytes, loads  # noqa: F401 - re-exported

SPEC_VERSION = "1.0"


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
    # The user whose request wrote the change (crm_core.context.current_actor_id); none for API
    # keys, consumers and background jobs.
    actor_id: str | None = None
    # Where the change came from (crm_core.context.ORIGINS: user, api, import, workflow, system)
    # and the workflow run ids that caused it, oldest first (None: no run did). Workflows'
    # exclude_sources and loop protection read them; None in events written before they existed.
    origin: str | None = None
    causation: list[str] | None = None
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
        # Optional annotations, read leniently: a bad one is dropped, never a reason to refuse the event.
        if not isinstance(known.get("origin"), str):
            known.pop("origin", None)
        causation = known.pop("causation", None)
        if isinstance(causation, list):
            known["causation"] = [c for c in causation if isinstance(c, str)] or None
        return cls(**known)


def topic_for(service: str, event_type: str) -> str:
    """Topic per ARCHITECTURE.md: crm.<service>.<aggregate>."""
    return f"crm.{service}.{event_type.split('.')[1]}"
