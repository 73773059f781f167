"""Fields contacts and companies share: tags, owner, custom properties (checked by the service)."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

NAME = validate.Length(min=1, max=200)
TAG = fields.String(validate=validate.Length(min=1, max=100))


def tags_field() -> fields.List:
    return fields.List(TAG, validate=validate.Length(max=100), allow_none=False)


def normalise_tags(data: dict[str, Any]) -> None:
    """Trimmed, de-duplicated, order kept."""
    if data.get("tags") is not None:
        seen: dict[str, None] = {}
        for tag in data["tags"]:
            seen.setdefault(tag.strip(), None)
        data["tags"] = [t for t in seen if t]


class PropertiesField(fields.Dict):
    """Custom field values by key; the service validates them against the tenant's definitions."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(keys=fields.String(validate=validate.Length(min=1, max=64)), **kwargs)
