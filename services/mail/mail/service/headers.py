"""Reading header fields of mail from the internet without raising: decoded where they can be,
as received where they cannot, always storable (no NUL, no lone surrogate) and cut to length."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import email.utils
import functools
import re
from email.message import EmailMessage, Message
from email.policy import EmailPolicy
from typing import Any

MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_HEADER_CACHE: dict[tuple[str, str], Any] = {}
_HEADER_CACHE_SIZE = 4096


class _CachingPolicy(EmailPolicy):
    """policy.default, parsing each distinct header once: the package re-parses a header at every
    read, and a walk over the parts reads each Content-Type some thirty times (half of the parse
    time of a typical message). Parsed headers are immutable str subclasses, so sharing them
    between reads (and messages: Content-Type values repeat) is safe."""

    def header_fetch_parse(self, name: str, value: str) -> Any:
        key = (name, value)
        found = _HEADER_CACHE.get(key)
        if found is None:
            found = super().header_fetch_parse(name, value)
            if len(_HEADER_CACHE) >= _HEADER_CACHE_SIZE:
                _HEADER_CACHE.clear()
            _HEADER_CACHE[key] = found
        return found


@functools.cache
def policy() -> EmailPolicy:
    return _CachingPolicy()


def clean(value: str | None, limit: int | None = None) -> str | None:
    """Storable text: no NUL, no lone surrogate (a surrogate-escaped byte becomes U+FFFD)."""
    if value is None:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = _unescape(value)
    value = value.replace("\x00", "")
    return value[:limit] if limit else value


def _unescape(value: str) -> str:
    """Raw 8-bit header bytes (surrogate-escaped by the parser): UTF-8 when they are, else the
    Windows Latin-1 most such mail was written in."""
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that is no escaped byte
        return value.encode("utf-8", "replace").decode("utf-8")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")


def _raw_values(msg: Message, name: str) -> list[str]:
    lower = name.lower()
    return [(clean(str(v)) or "").replace("\r", "").replace("\n", "") for k, v in msg.raw_items() if k.lower() == lower]


def header(msg: Message, name: str) -> str | None:
    """The first `name` header decoded (RFC 2047), or as received when it cannot be parsed."""
    try:
        value = msg.get(name)
        if value is None:
            return None
        text = str(value)
        if "\ufffd" in text:  # raw 8-bit bytes the header parser gave up on: decode them ourselves
            raw = _raw_values(msg, name)
            text = raw[0] if raw and "=?" not in raw[0] else text
        return (clean(text) or "").strip()
    except Exception:  # the header parser has edge cases that raise on garbage
        raw = _raw_values(msg, name)
        return raw[0].strip() if raw else None


def _party(address: str, name: str | None) -> dict[str, Any]:
    return {"address": clean(address, 320), "name": clean(name, 200) or None}


def addresses(msg: Message, name: str) -> list[dict[str, Any]]:
    """Every address of the `name` headers, with its decoded display name."""
    out = []
    try:
        for value in msg.get_all(name) or ():
            for addr in getattr(value, "addresses", ()):
                if addr.addr_spec and "@" in addr.addr_spec:
                    out.append(_party(addr.addr_spec, addr.display_name))
        return out[:200]
    except Exception:
        pairs = email.utils.getaddresses(_raw_values(msg, name))
        return [_party(addr, display) for display, addr in pairs if "@" in addr][:200]


def message_ids(value: str | None) -> list[str]:
    return [clean(m, 998) or "" for m in MESSAGE_ID.findall(value or "")]


def sent_date(msg: Message) -> dt.datetime | None:
    try:
        value = msg.get("Date")
        parsed = getattr(value, "datetime", None) if value is not None else None
        if parsed is None:
            return None
        return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)
    except Exception:
        return None


def parse_headers(text: str) -> EmailMessage:
    """A text/rfc822-headers part (or any header block) as a message without a body."""
    return email.message_from_string(text, policy=email.policy.default)  # type: ignore[return-value]
