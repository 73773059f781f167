"""Normalising what people type: emails, phone numbers (E.164), web domains, the search text."""

from __future__ import annotations

import re
from collections.abc import Iterable

from crm_properties.phones import PHONE_MEMO_SIZE, _parse_phone, _phone, phone  # noqa: F401  (contacts' phone normal form)

_DOMAIN = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")


def email(raw: str) -> str:
    return raw.strip().lower()


def domain(raw: str) -> str:
    """"https://www.Acme.com/about" -> "acme.com"; raises ValueError for something that is not a domain."""
    value = raw.strip().lower()
    value = re.sub(r"^[a-z][a-z0-9+.-]*://", "", value)
    value = value.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].split(":", 1)[0].rstrip(".")
    if value.startswith("www."):
        value = value[4:]
    try:
        value = value.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError("Not a domain name.") from exc
    if not _DOMAIN.match(value):
        raise ValueError("Not a domain name.")
    return value


def search_text(parts: Iterable[str | None]) -> str:
    """What `q=` matches: lower-cased words; phone numbers also without their + so digits match."""
    words: list[str] = []
    for part in parts:
        if not part:
            continue
        words.append(part.lower())
        if part.startswith("+"):
            words.append(part[1:])
    return " ".join(words)
