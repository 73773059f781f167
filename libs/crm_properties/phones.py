"""Phone numbers in E.164, as custom fields and contacts store them."""

from __future__ import annotations

import functools

import phonenumbers

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
