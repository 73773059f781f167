"""Forecast periods: months ("2026-12") and quarters ("2026-Q4"), as labels, dates and SQL buckets.

A period is numbered from year 0 (month: year × 12 + month − 1; quarter: year × 4 + quarter − 1),
so a range is a pair of integers and SQL can bucket a date by the same arithmetic. Dates are UTC
calendar dates (a timestamp's period is that of its UTC date).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, cast, func, literal_column
from sqlalchemy.sql import ColumnElement

from crm_core.errors import BadRequest

MAX_PERIODS = 24
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


@dataclass(frozen=True, order=True)
class Period:
    kind: str  # month | quarter
    index: int

    @property
    def months(self) -> int:
        return 1 if self.kind == "month" else 3

    @property
    def start(self) -> dt.date:
        month = self.index * self.months
        return dt.date(month // 12, month % 12 + 1, 1)

    @property
    def end(self) -> dt.date:
        """The first day after the period."""
        return Period(self.kind, self.index + 1).start

    @property
    def label(self) -> str:
        start = self.start
        return f"{start.year:04d}-{start.month:02d}" if self.kind == "month" else f"{start.year:04d}-Q{self.index % 4 + 1}"

    @property
    def end_year(self) -> int:
        """The year of `end`, computed without building the date (which fails after 9999)."""
        return (self.index + 1) * self.months // 12

    def __add__(self, n: int) -> Period:
        return Period(self.kind, self.index + n)

    @classmethod
    def of(cls, kind: str, day: dt.date) -> Period:
        month = day.year * 12 + day.month - 1
        return cls(kind, month if kind == "month" else month // 3)


def parse_label(kind: str, text: str) -> Period:
    """"2026-12" (month) or "2026-Q4" (quarter) -> Period; ValueError naming the expected form."""
    if kind == "month":
        m = _MONTH.match(text)
        if m and 1 <= int(m.group(2)) <= 12 and int(m.group(1)) >= 1:
            return Period("month", int(m.group(1)) * 12 + int(m.group(2)) - 1)
        raise ValueError("Use YYYY-MM, e.g. 2026-12.")
    m = _QUARTER.match(text)
    if m and int(m.group(1)) >= 1:
        return Period("quarter", int(m.group(1)) * 4 + int(m.group(2)) - 1)
    raise ValueError("Use YYYY-Qn, e.g. 2026-Q4.")


def _bad(name: str, message: str) -> BadRequest:
    return BadRequest(f"Query parameter {name!r}: {message}", errors={name: [message]})


def parse_kind(raw: str | None) -> str:
    kind = (raw or "month").strip()
    if kind not in ("month", "quarter"):
        raise _bad("period", "Use month or quarter.")
    return kind


def parse_range(kind: str, raw_from: str | None, raw_to: str | None, today: dt.date,
                default_length: int) -> tuple[Period, Period]:
    """(first, last) from `from` / `to` (inclusive); `from` defaults to the current period and `to`
    to `default_length` periods on. 400 naming the parameter for a bad form, an inverted range or
    one over MAX_PERIODS periods."""
    try:
        first = parse_label(kind, raw_from.strip()) if raw_from else Period.of(kind, today)
    except ValueError as exc:
        raise _bad("from", str(exc)) from None
    try:
        last = parse_label(kind, raw_to.strip()) if raw_to else first + (default_length - 1)
    except ValueError as exc:
        raise _bad("to", str(exc)) from None
    # Bounds before any date is built: a period ending after 9999 has no end date.
    if first.end_year > 9999:
        raise _bad("from", "Too far in the future: the last period ends in 9999.")
    if last < first:
        raise _bad("to", "Must not be before 'from'.")
    if last.index - first.index + 1 > MAX_PERIODS:
        raise _bad("to", f"At most {MAX_PERIODS} periods from 'from'.")
    if last.end_year > 9999:
        # Without `to`, the default range of `from` is what runs past 9999.
        name = "to" if raw_to else "from"
        raise _bad(name, "Too far in the future: the last period ends in 9999.")
    return first, last


def month_number(expr: Any, dialect: str, *, timestamp: bool = False) -> ColumnElement[int]:
    """SQL for the month number (year × 12 + month − 1) of a date, or of a timestamp's UTC date."""
    if dialect == "postgresql":
        value = func.timezone("UTC", expr) if timestamp else expr
        year = cast(func.extract("year", value), Integer)
        month = cast(func.extract("month", value), Integer)
    else:
        year = cast(func.strftime("%Y", expr), Integer)
        month = cast(func.strftime("%m", expr), Integer)
    return year * 12 + month - 1


def period_number(kind: str, expr: Any, dialect: str, *, timestamp: bool = False) -> ColumnElement[int]:
    months = month_number(expr, dialect, timestamp=timestamp)
    # Integer division on both engines: month numbers are integers.
    return months if kind == "month" else months // literal_column("3", Integer)
