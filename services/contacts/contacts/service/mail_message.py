"""A crm.mail.received event read as a message to log: who took part, when, in which thread, what it says.

Pure functions over the event's data (the contract: helper notes / crm_mail); no database here.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import nh3

from contacts import normalise

LOG_TAG = "log"
DEAL_TAG = "deal"  # <mailbox>+deal-<number>@: logged mail for that deal (data.deal_number)
MAX_BODY = 20_000  # characters of text on a timeline entry: a long thread's quoted history is cut
MAX_SUBJECT = 500
SNIPPET = 200
MAX_PARTICIPANTS = 50  # a message to a mailing list logs on the first 50 addresses, not a thousand
MAX_REFERENCES = 50
MAX_MESSAGE_ID = 998  # RFC 5322 line length
ROLES = ("from", "to", "cc", "reply_to")
# Thread ids are names in this namespace: the same root Message-ID gives the same id in every tenant
# and process, and a message with no ids at all gets its own thread from its inbound id.
THREAD_NAMESPACE = uuid.UUID("1b0c3d2e-6f5a-5e8b-9c1d-7a2b3c4d5e6f")
_BLOCK_END = re.compile(r"(?i)<\s*(br\s*/?|/p|/div|/li|/tr|/h[1-6]|/blockquote|/table)\s*>")
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n\s*\n\s*\n+")


@dataclass(frozen=True)
class LoggedMessage:
    inbound_id: uuid.UUID
    message_id: str | None
    in_reply_to: str | None
    references: list[str]
    from_address: str | None
    from_name: str | None
    participants: list[dict[str, Any]]  # {"address", "name", "role"}, one per address, from first
    subject: str | None
    body: str | None
    occurred_at: dt.datetime
    addresses: list[str] = field(default_factory=list)  # what contacts are matched on

    @property
    def snippet(self) -> str | None:
        text = " ".join((self.body or "").split())
        return (text[:SNIPPET - 1] + "…" if len(text) > SNIPPET else text) or None

    def thread_keys(self) -> list[str]:
        """Message-IDs that name the conversation, best first: its root (first of References),
        the one it answers, its own."""
        return [k for k in (*self.references[:1], self.in_reply_to, self.message_id) if k]

    def thread_id(self) -> uuid.UUID:
        keys = self.thread_keys()
        return uuid.uuid5(THREAD_NAMESPACE, keys[0] if keys else f"inbound:{self.inbound_id}")


def is_loggable(data: dict[str, Any]) -> bool:
    """Only people's own messages to <mailbox>+log@: no auto replies, bounces, complaints or loops."""
    return data.get("tag") in (LOG_TAG, DEAL_TAG) and data.get("kind") == "message" and not data.get("auto_submitted")


def deal_number(data: dict[str, Any]) -> int | None:
    """The deal a +deal-<n>@ message is for (the mail service parsed n; never from a header)."""
    number = data.get("deal_number")
    if data.get("tag") != DEAL_TAG or isinstance(number, bool) or not isinstance(number, int) or number <= 0:
        return None
    return number


def message_id(raw: Any) -> str | None:
    """"<abc@x>" as one canonical form (angle brackets, no spaces), or None."""
    if not isinstance(raw, str):
        return None
    value = "".join(raw.split()).strip("<>")
    if not value:
        return None
    return f"<{value}>"[:MAX_MESSAGE_ID]


def _address(raw: Any) -> tuple[str, str | None] | None:
    """(normalised address, display name) from {"address", "name"} or a bare string."""
    if isinstance(raw, dict):
        address, name = raw.get("address"), raw.get("name")
    else:
        address, name = raw, None
    if not isinstance(address, str) or "@" not in address:
        return None
    return normalise.email(address)[:320], (str(name).strip()[:200] or None) if name else None


def participants(data: dict[str, Any]) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for role in ROLES:
        raw = data.get(role)
        for item in ([raw] if role == "from" else raw if isinstance(raw, list) else []):
            parsed = _address(item)
            if parsed is not None and parsed[0] not in found and len(found) < MAX_PARTICIPANTS:
                found[parsed[0]] = {"address": parsed[0], "name": parsed[1], "role": role}
    return list(found.values())


def html_to_text(markup: str) -> str:
    """The text of (already sanitised) HTML: tags dropped, block ends as line breaks, entities decoded."""
    marked = _BLOCK_END.sub("\n", markup)
    text = html.unescape(nh3.clean(marked, tags=set(), clean_content_tags={"style", "script", "head", "title"}))
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def body_text(data: dict[str, Any]) -> str | None:
    text = data.get("text") if isinstance(data.get("text"), str) else None
    if not (text or "").strip() and isinstance(data.get("html"), str):
        text = html_to_text(data["html"])
    if not text or not text.strip():
        return None
    text = text.strip()
    return text[:MAX_BODY - 1] + "…" if len(text) > MAX_BODY else text


def _when(raw: Any) -> dt.datetime | None:
    if not isinstance(raw, str) or not raw:
        return None
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def occurred_at(data: dict[str, Any], received: dt.datetime) -> dt.datetime:
    """The Date header; the received time when it is missing, unreadable, or more than a day ahead
    (a sender's wrong clock must not pin the message to the top of a timeline)."""
    sent = _when(data.get("date"))
    if sent is None or sent > received + dt.timedelta(days=1):
        return received
    return sent


def read_message(data: dict[str, Any], received_at: str | None, own_domain: str | None = None) -> LoggedMessage:
    received = _when(received_at) or dt.datetime.now(dt.UTC)
    people = participants(data)
    recipient = data.get("recipient")
    own = own_domain or (recipient.rsplit("@", 1)[1].lower() if isinstance(recipient, str) and "@" in recipient else None)
    # The CRM's own addresses (<mailbox>+log@ in Bcc or Cc) are no contact of anyone.
    people = [p for p in people if own is None or not p["address"].endswith("@" + own)]
    sender = next((p for p in people if p["role"] == "from"), None)
    refs = data.get("references") if isinstance(data.get("references"), list) else []
    subject = data.get("subject") if isinstance(data.get("subject"), str) else None
    return LoggedMessage(
        inbound_id=uuid.UUID(str(data["id"])),
        message_id=message_id(data.get("message_id")),
        in_reply_to=message_id(data.get("in_reply_to")),
        references=list(dict.fromkeys(r for r in map(message_id, refs) if r))[:MAX_REFERENCES],
        from_address=sender["address"] if sender else None,
        from_name=sender["name"] if sender else None,
        participants=people,
        subject=(subject.strip()[:MAX_SUBJECT] or None) if subject else None,
        body=body_text(data),
        occurred_at=occurred_at(data, received),
        addresses=[p["address"] for p in people],
    )
