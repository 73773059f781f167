"""Normalising what people type: emails, phone numbers (E.164), web domains, the search text."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

import phonenumbers

_DOMAIN = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")


def email(raw: str) -> str:
    return raw.strip().lower()


PHONE_MEMO_SIZE = 8192  # distinct (number, region) pairs remembered per process


def phone(raw: str, default_region: str | None) -> str:
    """E.164 ("+4930123456"); raises ValueError for something that is not a possible number.

    Without a leading + the number is read in the tenant's default region; with no region set,
    only international numbers are accepted. Parsing costs tens of microseconds and files repeat
    numbers (switchboards, placeholders), so each distinct (number, region) is parsed once; the
    answer depends on nothing else."""
    e164, error = _phone(raw, default_region)
    if error is not None:
        raise ValueError(error)
    return e164  # type: ignore[return-value]


@functools.lru_cache(maxsize=PHONE_MEMO_SIZE)
def _phone(raw: str, default_region: str | None) -> tuple[str | None, str | None]:
    """(E.164, None) or (None, why not): a refusal is remembered too."""
    try:
        return _parse_phone(raw, default_region), None
    except ValueError as exc:
        return None, str(exc)


def _parse_phone(raw: str, default_region: str | None) -> str:
    try:
        number = phonenumbers.parse(raw, default_region or None)
    except phonenumbers.NumberParseException as exc:
        hint = "" if default_region else " Use the international form (+country code) or set a default region."
        raise ValueError(f"Not a phone number.{hint}") from exc
    if not phonenumbers.is_possible_number(number):
        raise ValueError("Not a possible phone number for its country.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


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
