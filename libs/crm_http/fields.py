"""marshmallow pieces every service shares: record metadata and money."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, pre_load, validate


class MoneySchema(Schema):
    """{"amount": "1234.50", "currency": "EUR"}: a decimal string, never a float."""

    amount = fields.Decimal(required=True, as_string=True, places=2, allow_nan=False,
                            validate=validate.Range(min=decimal.Decimal("-1e15"), max=decimal.Decimal("1e15")))
    currency = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{3}$", error="Use an ISO 4217 code."))


class UtcDateTime(fields.AwareDateTime):
    """ISO 8601 in UTC with a Z. Input must carry an offset; SQLite's naive values are UTC."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("format", "iso")
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.datetime:
        parsed = super()._deserialize(value, attr, data, **kwargs)
        try:
            return parsed.astimezone(dt.UTC)
        except OverflowError as exc:  # year 1 at +01:00 has no UTC form
            raise ValidationError("Out of range once converted to UTC.") from exc

    def _serialize(self, value: dt.datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        value = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
        return value.isoformat().replace("+00:00", "Z")


class RecordSchema(Schema):
    """Fields every record carries (read-only)."""

    id = fields.UUID(dump_only=True)
    created_at = UtcDateTime(dump_only=True)
    updated_at = UtcDateTime(dump_only=True)
    version = fields.Integer(dump_only=True)


def money_out(amount: decimal.Decimal | None, currency: str | None) -> dict[str, str] | None:
    if amount is None or currency is None:
        return None
    return {"amount": f"{amount:.2f}", "currency": currency}


def require_any(data: dict[str, Any], *names: str) -> None:
    if not any(data.get(n) for n in names):
        raise ValidationError({names[0]: [f"Give at least one of: {', '.join(names)}."]})


class TrimmedSchema(Schema):
    """Strips surrounding white space from string fields before validation.

    `trim_fields` limits it to some fields (leave multi-line bodies as typed); None means all.
    """

    trim_fields: frozenset[str] | None = None

    @pre_load
    def _trim(self, data: Any, **_: Any) -> Any:
        if not isinstance(data, dict):
            return data
        only = self.trim_fields
        return {k: (v.strip() if isinstance(v, str) and (only is None or k in only) else v) for k, v in data.items()}
