"""A message as GET /v1/mail/messages/{id} and the crm.mail.* events show it (one serialiser for
ORM objects, Core rows and the ingest's row dicts)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from crm_db.base import utc_iso

FIELDS = ("id", "status", "purpose", "source", "from_address", "from_name", "sender_id", "to", "cc", "bcc",
          "subject", "refers_to_type", "refers_to_id", "message_id_header", "size", "attempts",
          "next_attempt_at", "last_error", "last_smtp_code", "sent_at", "bounced_at", "created_at", "updated_at")



def message_body(message: Mapping[str, Any] | Any) -> dict[str, Any]:
    get = message.get if isinstance(message, Mapping) else lambda k: getattr(message, k)
    refers = get("refers_to_type")
    return {
        "id": str(get("id")), "status": get("status"), "purpose": get("purpose"), "source": get("source"),
        "from": {"address": get("from_address"), "name": get("from_name")},
        "sender_id": str(get("sender_id")) if get("sender_id") else None,
        "to": get("to") or [], "cc": get("cc") or [], "bcc": get("bcc") or [], "subject": get("subject"),
        "refers_to": {"type": refers, "id": get("refers_to_id")} if refers else None,
        "message_id_header": get("message_id_header"), "size": get("size"), "attempts": get("attempts"),
        "next_attempt_at": utc_iso(get("next_attempt_at")), "last_error": get("last_error"),
        "last_smtp_code": get("last_smtp_code"), "sent_at": utc_iso(get("sent_at")),
        "bounced_at": utc_iso(get("bounced_at")), "created_at": utc_iso(get("created_at")),
        "updated_at": utc_iso(get("updated_at")),
    }


def attempt_body(attempt: Any) -> dict[str, Any]:
    return {"attempt": attempt.attempt, "started_at": utc_iso(attempt.started_at), "duration_ms": attempt.duration_ms,
            "outcome": attempt.outcome, "smtp_code": attempt.smtp_code, "response": attempt.response}


def attempt_log(attempts: Iterable[Any]) -> list[dict[str, Any]]:
    return [attempt_body(a) for a in sorted(attempts, key=lambda a: a.attempt)]
