"""Request parsing: malformed JSON is 400, failed validation is 422 with field errors.

Every way input arrives (a JSON body, the query string, the path, headers, form fields and
multipart parts) is checked here for text no store can hold (see jsontext), so no endpoint
can pass a NUL or a lone surrogate on to the database.
"""

from __future__ import annotations

import uuid
from typing import IO, Any

from flask import Request, request
from marshmallow import Schema, ValidationError
from werkzeug.datastructures import MultiDict
from werkzeug.formparser import FormDataParser

from crm_core.errors import BadRequest, NotFound, PreconditionFailed, validation_error
from crm_http.jsontext import BadText, JsonSyntaxError, decode_json, printable, text_problem


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
        return decode_json(raw)
    except BadText as exc:
        raise validation_error({exc.path: [exc.message]}) from exc
    except JsonSyntaxError as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc}") from exc


def check_request_text() -> None:
    """Before any route (and before authentication, which reads headers): the path, the query
    string and the headers carry only text a store can hold; 400 naming the parameter otherwise."""
    if (problem := text_problem(request.path)) is not None:
        raise BadRequest(f"The path is not valid: {problem}", errors={"_path": [problem]})
    for name, value in request.args.items(multi=True):
        for part, what in ((name, "The parameter name: "), (value, "")):
            if (problem := text_problem(part)) is not None:
                raise BadRequest(f"Query parameter {printable(name)!r} is not valid: {what}{problem}",
                                 errors={printable(name): [what + problem]})
    for name, value in request.headers.items():
        if "\x00" in value:
            raise BadRequest(f"Header {name!r} contains a NUL character.", errors={name: ["Contains a NUL character."]})


class StrictFormDataParser(FormDataParser):
    """Form and multipart bodies that say what is wrong with them.

    Werkzeug's default (silent) parser answers a part header that is not UTF-8 with an empty
    form, so the client heard "object: missing" about a field it did send; here it is a 400. Field
    names, values and file names are then checked like any other input (422 naming the field).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["silent"] = False
        super().__init__(*args, **kwargs)

    def parse(self, stream: IO[bytes], mimetype: str, content_length: int | None,
              options: dict[str, str] | None = None) -> tuple[IO[bytes], MultiDict[str, Any], MultiDict[str, Any]]:
        try:
            stream, form, files = super().parse(stream, mimetype, content_length, options)
        except ValueError as exc:  # UnicodeDecodeError in a part header, a broken boundary, ...
            raise BadRequest(f"The {mimetype} body could not be parsed: {exc}.",
                             errors={"_body": ["Part headers must be UTF-8 and the body well formed."]}) from exc
        for name, value in [*form.items(multi=True), *((n, f.filename or "") for n, f in files.items(multi=True))]:
            for part, what in ((name, "The field name: "), (value, "")):
                if isinstance(part, str) and (problem := text_problem(part)) is not None:
                    raise validation_error({printable(name): [what + problem]})
        return stream, form, files


class CrmRequest(Request):
    form_data_parser_class = StrictFormDataParser


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
