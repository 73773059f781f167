"""Errors that map to RFC 9457 problem+json answers."""

from __future__ import annotations

from typing import Any


class ProblemError(Exception):
    """An error with an HTTP status and a problem+json body."""

    status = 500
    title = "Internal Server Error"
    type_slug = "about:blank"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: dict[str, list[str]] | None = None,
        status: int | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or self.title)
        if status is not None:
            self.status = status
        if title is not None:
            self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type_slug if self.type_slug != "about:blank" else "about:blank",
            "title": self.title,
            "status": self.status,
        }
        if self.detail:
            body["detail"] = self.detail
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


def _problem(status: int, title: str, slug: str) -> type[ProblemError]:
    return type(title.replace(" ", "") + "Error", (ProblemError,), {
        "status": status, "title": title, "type_slug": f"https://crm.dev/problems/{slug}",
    })


BadRequest = _problem(400, "Bad Request", "bad-request")
Unauthorized = _problem(401, "Unauthorized", "unauthorized")
Forbidden = _problem(403, "Forbidden", "forbidden")
NotFound = _problem(404, "Not Found", "not-found")
Conflict = _problem(409, "Conflict", "conflict")
Gone = _problem(410, "Gone", "gone")
PreconditionFailed = _problem(412, "Precondition Failed", "precondition-failed")
PayloadTooLarge = _problem(413, "Payload Too Large", "payload-too-large")
UnprocessableEntity = _problem(422, "Unprocessable Entity", "validation")
TooManyRequests = _problem(429, "Too Many Requests", "rate-limited")
ServiceUnavailable = _problem(503, "Service Unavailable", "unavailable")


def validation_error(errors: dict[str, list[str]], detail: str = "The request has invalid fields.") -> ProblemError:
    return UnprocessableEntity(detail, errors=errors)
