"""Request parsing: malformed JSON is 400, failed validation is 422 with field errors."""

from __future__ import annotations

import json
import uuid
from typing import Any

from flask import request
from marshmallow import Schema, ValidationError

from crm_core.errors import BadRequest, NotFound, PreconditionFailed, validation_error


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages -> {"field.sub": ["..."]}."""
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return {prefix or "_body": list(messages)}
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = "_body" if key == "_schema" and not prefix else (f"{prefix}.{key}" if prefix else str(key))
            out.update(flatten_errors(value, name))
    elif isinstance(messages, list):
        out[prefix or "_body"] = [str(m) for m in messages]
    else:
        out[prefix or "_body"] = [str(messages)]
    return out


def json_body() -> Any:
    raw = request.get_data(cache=True)
    if not raw:
        raise BadRequest("The request body is empty; send a JSON object.")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc}") from exc


def load(schema: Schema, data: Any | None = None, *, partial: bool = False) -> dict[str, Any]:
    body = json_body() if data is None else data
    if not isinstance(body, dict):
        raise validation_error({"_body": ["Expected a JSON object."]})
    try:
        return schema.load(body, partial=partial)
    except ValidationError as exc:
        raise validation_error(flatten_errors(exc.messages)) from exc


def parse_uuid(value: str, what: str = "record") -> uuid.UUID:
    """A malformed id can never exist: answer 404, like any unknown id."""
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise NotFound(f"No {what} with id {value!r}.") from exc


def if_match_version() -> int | None:
    """The version a client last saw, from If-Match (`"3"`, `3`, `W/"3"`); None without the header."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    value = header.strip()
    if value.startswith("W/"):
        value = value[2:]
    value = value.strip('"')
    try:
        return int(value)
    except ValueError as exc:
        raise PreconditionFailed(f"If-Match {header!r} does not match any version of this record.") from exc


def query_int(name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest(f"Query parameter {name!r} must be an integer.", errors={name: ["Not an integer."]}) from exc
    if not minimum <= value <= maximum:
        raise BadRequest(
            f"Query parameter {name!r} must be between {minimum} and {maximum}.",
            errors={name: [f"Must be between {minimum} and {maximum}."]},
        )
    return value
