"""Holidays from an iCalendar feed (a public-holiday calendar URL): fetching, bounded, and parsing
VEVENTs into local dates.

Fetching is for a background refresher only: the math uses the holidays stored from the last
successful fetch and never waits on the network.
"""

from __future__ import annotations

import datetime as dt
import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import icalendar
from dateutil.rrule import rrulestr

from crm_core.timezones import zone

MAX_BYTES = 2 * 1024 * 1024
MAX_HOLIDAYS = 2000
MAX_EVENT_DAYS = 31  # an all-day event longer than a month is no holiday (a "term" or "season")
MAX_REDIRECTS = 3


class FeedError(ValueError):
    """The feed could not be fetched or read; the message says why (stored for the tenant to see)."""


@dataclass(frozen=True)
class Holiday:
    date: dt.date
    name: str


def check_url(url: str) -> str:
    """Syntax only (saving a calendar): http, https or webcal, a host, no credentials."""
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise FeedError("The URL must not contain spaces or control characters.")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https", "webcal"):
        raise FeedError("Use an http, https or webcal URL.")
    if not parts.hostname:
        raise FeedError("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise FeedError("Credentials in the URL are not supported.")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise FeedError("The URL has an invalid port.") from exc
    return url


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_loopback or ip.is_link_local)


def fetch(url: str, *, timeout: float = 10.0, max_bytes: int = MAX_BYTES, allow_private: bool = False) -> bytes:
    """GET the feed: each attempt bounded by `timeout` (connect and every read), the body by
    `max_bytes`, up to MAX_REDIRECTS redirects. The host must resolve to public addresses only
    (unless allow_private) and the connection goes to the address checked, not to a new lookup."""
    for _ in range(MAX_REDIRECTS + 1):
        check_url(url)
        parts = urlsplit(url)
        scheme = "https" if parts.scheme.lower() == "webcal" else parts.scheme.lower()
        host, port = parts.hostname or "", parts.port or (443 if scheme == "https" else 80)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise FeedError(f"The host {host!r} does not resolve.") from exc
        addresses = [str(info[4][0]) for info in infos]
        if not addresses or (not allow_private and not all(_public(a) for a in addresses)):
            raise FeedError(f"The host {host!r} is not a public address.")
        conn = _connection(scheme, host, addresses[0], port, timeout)
        try:
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            conn.request("GET", path, headers={"Host": parts.netloc.rsplit("@", 1)[-1], "Accept": "text/calendar",
                                               "User-Agent": "crm-holiday-feed/1"})
            resp = conn.getresponse()
            if resp.status in (301, 302, 303, 307, 308) and resp.getheader("Location"):
                url = urljoin(url, resp.getheader("Location") or "")
                continue
            if resp.status != 200:
                raise FeedError(f"The feed answered HTTP {resp.status}.")
            body = resp.read(max_bytes + 1)
            if len(body) > max_bytes:
                raise FeedError(f"The feed is larger than {max_bytes} bytes.")
            return body
        except (OSError, http.client.HTTPException) as exc:
            raise FeedError(f"Fetching the feed failed: {type(exc).__name__}: {exc}"[:300]) from exc
        finally:
            conn.close()
    raise FeedError("Too many redirects.")


def _connection(scheme: str, host: str, address: str, port: int, timeout: float) -> http.client.HTTPConnection:
    """A connection to `address` that speaks to `host` (Host header, TLS server name)."""
    if scheme == "https":
        context = ssl.create_default_context()

        class _Pinned(http.client.HTTPSConnection):
            def connect(self) -> None:
                sock = socket.create_connection((address, port), timeout)
                self.sock = context.wrap_socket(sock, server_hostname=host)

        return _Pinned(host, port, timeout=timeout, context=context)

    class _PinnedPlain(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.create_connection((address, port), timeout)

    return _PinnedPlain(host, port, timeout=timeout)


def _as_date(value: Any, time_zone: str) -> dt.date:
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=zone(time_zone))
        return aware.astimezone(zone(time_zone)).date()
    return value  # type: ignore[no-any-return]


def parse_holidays(data: bytes | str, time_zone: str, *, today: dt.date | None = None) -> list[Holiday]:
    """Every day a VEVENT covers, as dates in the calendar's zone: an all-day event its days
    [DTSTART, DTEND), a timed one the local dates of its start. Yearly rules (RRULE) are expanded
    from a year back to three years ahead. Sorted, one entry per date."""
    try:
        cal = icalendar.Calendar.from_ical(data)
    except Exception as exc:  # the library raises ValueError and friends on malformed input
        raise FeedError(f"Not an iCalendar file: {exc}"[:300]) from exc
    today = today or dt.date.today()
    window = (today - dt.timedelta(days=366), today + dt.timedelta(days=3 * 366))
    found: dict[dt.date, str] = {}
    for event in cal.walk("VEVENT"):
        if str(event.get("STATUS", "")).upper() == "CANCELLED" or event.get("DTSTART") is None:
            continue
        name = str(event.get("SUMMARY", "") or "Holiday")[:200]
        raw_start = event.decoded("DTSTART")
        start = _as_date(raw_start, time_zone)
        days = 1
        if event.get("DTEND") is not None and not isinstance(raw_start, dt.datetime):
            days = max(1, (_as_date(event.decoded("DTEND"), time_zone) - start).days)
        if days > MAX_EVENT_DAYS:
            continue
        starts = [start]
        if event.get("RRULE") is not None:
            try:
                rule = rrulestr(event["RRULE"].to_ical().decode(), dtstart=dt.datetime.combine(start, dt.time()))
                lo, hi = dt.datetime.combine(window[0], dt.time()), dt.datetime.combine(window[1], dt.time())
                starts = [d.date() for d in rule.between(lo, hi, inc=True)][:100]
            except (ValueError, TypeError):
                starts = [start]
        for first in starts:
            for n in range(days):
                day = first + dt.timedelta(days=n)
                found.setdefault(day, name)
        if len(found) > MAX_HOLIDAYS:
            raise FeedError(f"The feed has more than {MAX_HOLIDAYS} holidays.")
    return [Holiday(d, found[d]) for d in sorted(found)]
