"""problem+json (RFC 9457) answers for every error, including Flask's own."""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Response, request
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from crm_core.errors import ProblemError
from crm_db.transient import is_transient

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


def problem_response(status: int, title: str, detail: str | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return Response(json.dumps(body, default=str), status=status, mimetype=PROBLEM_JSON)


def from_problem(exc: ProblemError) -> Response:
    resp = Response(json.dumps(exc.to_dict(), default=str), status=exc.status, mimetype=PROBLEM_JSON)
    for key, value in exc.headers.items():
        resp.headers[key] = value
    return resp


def _from_http(exc: HTTPException) -> Response:
    status = exc.code or 500
    detail = exc.description
    if status == 413:
        limit = request.max_content_length
        detail = ("The request body is larger than 1 MiB; upload large files through /v1/imports."
                  if limit is None or limit <= 1024 * 1024 else f"The upload is larger than the limit of {limit} bytes.")
    resp = problem_response(status, exc.name, detail)
    if status == 405 and exc.response is None:
        allowed = getattr(exc, "valid_methods", None)
        if allowed:
            resp.headers["Allow"] = ", ".join(allowed)
    return resp


def _from_integrity(exc: IntegrityError) -> Response:
    # A uniqueness or reference rule enforced by the database lost a race with a concurrent
    # request (the use case checks first): the client's write conflicts with current state.
    log.info("integrity conflict: %s", exc.orig)
    return problem_response(409, "Conflict", "The change conflicts with the current state of another record; "
                            "read it again and retry.")


def _from_unexpected(exc: Exception) -> Response:
    if is_transient(exc):
        # The database (or another backing service) is restarting, failing over or busy: nothing
        # was committed, and a retry may work.
        log.warning("backing service unavailable: %r", exc)
        resp = problem_response(503, "Service Unavailable", "A backing service is unavailable right now; retry shortly.")
        resp.headers["Retry-After"] = "2"
        return resp
    log.exception("unhandled error")
    return problem_response(500, "Internal Server Error", "An unexpected error occurred; it has been logged.")


def install(app: Flask) -> None:
    app.register_error_handler(ProblemError, from_problem)
    app.register_error_handler(HTTPException, _from_http)
    app.register_error_handler(IntegrityError, _from_integrity)
    app.register_error_handler(Exception, _from_unexpected)
