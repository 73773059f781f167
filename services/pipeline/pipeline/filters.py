"""Simple list filters from query parameters (`?status=won&pipeline_id=...`): equality on one column each.

A malformed value is a 400 naming the parameter; an empty one is ignored.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from flask import request
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute

from crm_core.errors import BadRequest

Parser = Callable[[str, str], Any]


def _bad(name: str, message: str) -> BadRequest:
    return BadRequest(f"Query parameter {name!r}: {message}", errors={name: [message]})


def as_uuid(name: str, raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise _bad(name, "Not a UUID.") from exc


def as_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value not in ("true", "false", "1", "0"):
        raise _bad(name, "Use true or false.")
    return value in ("true", "1")


def one_of(choices: Sequence[str]) -> Parser:
    def parse(name: str, raw: str) -> str:
        if raw not in choices:
            raise _bad(name, f"Use one of: {', '.join(choices)}.")
        return raw

    return parse


def equality_filters(params: dict[str, tuple[InstrumentedAttribute[Any], Parser]]) -> Callable[[Select[Any]], Select[Any]]:
    """A RecordRoutes.list_filters reading flask.request.args."""

    def apply(stmt: Select[Any]) -> Select[Any]:
        for name, (column, parse) in params.items():
            raw = request.args.get(name, "")
            if raw != "":
                stmt = stmt.where(column == parse(name, raw))
        return stmt

    return apply


def documented(params: dict[str, tuple[InstrumentedAttribute[Any], Parser]]) -> list[dict[str, Any]]:
    """OpenAPI query parameters for the filters."""
    out = []
    for name, (_column, parse) in params.items():
        schema: dict[str, Any] = {"type": "string"}
        if parse is as_uuid:
            schema["format"] = "uuid"
        elif parse is as_bool:
            schema = {"type": "boolean"}
        out.append({"name": name, "in": "query", "schema": schema})
    return out
