"""Where a webhook may point: http(s) URLs whose host resolves only to public addresses.

The check runs when a subscription is saved and again before every attempt: a name that
resolved to a public address yesterday may resolve to 169.254.169.254 today (DNS rebinding).
The delivery then connects to the address checked here, never to a fresh lookup.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolve = Callable[[str, int], "list[IPAddress]"]
SCHEMES = {"http": 80, "https": 443}


class UnsafeUrl(ValueError):
    """The URL is malformed or points somewhere a webhook must not go; the message says why."""


class Unresolvable(UnsafeUrl):
    """The host does not resolve (now: a later lookup may)."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # the name as written (Host header, TLS server name)
    port: int
    address: IPAddress  # where to connect
    host_header: str  # host[:port] as written
    path: str  # path and query


def parse(url: str) -> SplitResult:
    """Syntax only: scheme http/https, a host, a valid port, no credentials."""
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise UnsafeUrl("The URL must not contain spaces or control characters.")
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise UnsafeUrl("Use an http or https URL.")
    if not parts.hostname:
        raise UnsafeUrl("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("Credentials in the URL are not supported; they would be shown in every read.")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise UnsafeUrl("The URL has an invalid port.") from exc
    return parts


def forbidden(address: IPAddress) -> bool:
    """True for anything but a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return (address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
            or address.is_reserved or address.is_unspecified or not address.is_global)


def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Unresolvable(f"The host {host!r} does not resolve.") from exc
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])  # drop an IPv6 zone id
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise Unresolvable(f"The host {host!r} does not resolve.")
    return addresses


def check(url: str, *, allow_private: bool, resolver: Resolve | None = None) -> Target:
    """Parse and resolve `url`; refuse it if any address is not public (unless the operator allows it).
    `resolver` replaces the plain lookup (the delivery loop's has a deadline)."""
    parts = parse(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    port = parts.port or SCHEMES[scheme]
    addresses = (resolver or resolve)(host, port)
    if not allow_private:
        # Every address must be public: a name with one public and one private address would let
        # the resolver's order decide where the request goes.
        bad = [a for a in addresses if forbidden(a)]
        if bad:
            raise UnsafeUrl(f"The host {host!r} resolves to a private, loopback, link-local or reserved "
                            f"address ({bad[0]}); webhooks must point to public addresses.")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, host, port, addresses[0], parts.netloc, path)
