"""One HTTP attempt of a delivery: check where the URL points now, sign, POST, note the answer.

Every attempt has one deadline for all of it: the DNS lookup, connect, TLS handshake, sending
and reading the answer. Per-operation timeouts are not enough: a receiver that drips one byte
every few seconds never trips a read timeout, and a slow resolver is not covered by any socket
timeout. So the lookup runs in a bounded pool of threads and is abandoned at the deadline, and
every socket operation gets only the time that is left (the TLS handshake runs non-blocking
under select for the same reason).
"""

from __future__ import annotations

import http.client
import io
import select
import socket
import ssl
import string
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from automation import signing, urls
from automation.urls import IPAddress, Target, Unresolvable, UnsafeUrl, check

EXCERPT_CHARS = 500
ERROR_CHARS = 1000
DEFAULT_TIMEOUT = 10.0


class DeadlineExceeded(Exception):
    """The attempt ran out of time (the message says in which step)."""


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    error: str | None
    duration_ms: int
    response: str | None = None
    refused: bool = False  # the URL points where a request must not go (trying again will not help)

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class Resolver:
    """getaddrinfo in a bounded pool of threads, so a lookup can be given up at the deadline (the
    thread finishes the lookup in the background; the attempt does not wait for it)."""

    def __init__(self, threads: int) -> None:
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def resolve(self, host: str, port: int, deadline: float) -> list[IPAddress]:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="webhook-dns")
            pool = self._pool
        future = pool.submit(urls.resolve, host, port)
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            future.cancel()
            raise DeadlineExceeded(f"The host {host!r} did not resolve in time.") from None

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None


def _left(deadline: float, step: str) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise DeadlineExceeded(f"Ran out of time while {step}.")
    return remaining


class _DeadlineReader(io.RawIOBase):
    """The socket as a raw stream whose every read gets only the time left before the deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock, self._deadline = sock, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._sock.settimeout(_left(self._deadline, "reading the answer"))
        try:
            return self._sock.recv_into(buffer)
        except TimeoutError:
            raise DeadlineExceeded("Ran out of time while reading the answer.") from None


class _SocketShim:
    """What http.client.HTTPResponse needs of a socket: makefile()."""

    def __init__(self, reader: _DeadlineReader) -> None:
        self._reader = reader

    def makefile(self, _mode: str) -> io.BufferedReader:
        return io.BufferedReader(self._reader)


def _wait(sock: socket.socket, deadline: float, *, write: bool) -> None:
    remaining = _left(deadline, "negotiating TLS")
    ready = select.select([], [sock], [], remaining) if write else select.select([sock], [], [], remaining)
    if not any(ready):
        raise DeadlineExceeded("Ran out of time while negotiating TLS.")


def _request_head(target: Target, headers: dict[str, str], length: int, method: str = "POST") -> bytes:
    path = quote(target.path, safe=string.punctuation)  # non-ASCII in the URL as written: percent-encoded
    host = target.host_header if target.host_header.isascii() else target.host_header.encode("idna").decode()
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {length}", "Connection: close",
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Sender:
    """Posts signed envelopes; connects to the address it has just checked, never to a new lookup."""

    def __init__(self, *, allow_private: bool = False, timeout: float = DEFAULT_TIMEOUT, ca_certs: str | None = None,
                 resolver_threads: int = 16) -> None:
        self.allow_private = allow_private
        self.timeout = timeout
        self.resolver = Resolver(resolver_threads)
        self._ca_certs = ca_certs
        self._tls: ssl.SSLContext | None = None

    def tls_context(self) -> ssl.SSLContext:
        if self._tls is None:  # default: the system's trust store; built on first use, not at import
            self._tls = ssl.create_default_context(cafile=self._ca_certs)
        return self._tls

    def send(self, url: str, secret: str | None, message_id: str, body: bytes, *, method: str = "POST") -> AttemptResult:
        """`secret` None sends the same headers without Webhook-Signature (a workflow's call_webhook
        step without a secret of its own); `method` is POST for subscriptions."""
        started = time.monotonic()
        deadline = started + self.timeout

        def elapsed() -> int:
            return int((time.monotonic() - started) * 1000)

        def failed(text: str, refused: bool = False) -> AttemptResult:
            return AttemptResult(None, text[:ERROR_CHARS], elapsed(), refused=refused)

        try:
            # Again at every attempt: the name may resolve elsewhere than when it was saved.
            target = check(url, allow_private=self.allow_private,
                           resolver=lambda host, port: self.resolver.resolve(host, port, deadline))
            headers = signing.headers(secret, message_id, int(time.time()), body)
            status, excerpt = self._post(target, headers, body, deadline, method)
        except Unresolvable as exc:  # DNS may answer next time
            return failed(str(exc))
        except UnsafeUrl as exc:
            return failed(str(exc), refused=True)
        except DeadlineExceeded as exc:
            return failed(f"Timeout: {exc} Each attempt may take {self.timeout:g} s in all (DNS, connect, TLS, "
                          "sending and reading the answer).")
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return failed(f"{type(exc).__name__}: {exc}")
        error = None if 200 <= status < 300 else f"The receiver answered HTTP {status}."
        return AttemptResult(status, error, elapsed(), excerpt or None)

    def _post(self, target: Target, headers: dict[str, str], body: bytes, deadline: float,
              method: str = "POST") -> tuple[int, str]:
        family = socket.AF_INET6 if target.address.version == 6 else socket.AF_INET
        raw = socket.socket(family, socket.SOCK_STREAM)
        sock: socket.socket = raw
        try:
            raw.settimeout(_left(deadline, "connecting"))
            try:
                raw.connect((str(target.address), target.port))
            except TimeoutError:
                raise DeadlineExceeded("Ran out of time while connecting.") from None
            if target.scheme == "https":
                # The certificate is checked against the name in the URL, not the address.
                sock = self.tls_context().wrap_socket(raw, server_hostname=target.host, do_handshake_on_connect=False)
                sock.setblocking(False)
                while True:
                    try:
                        sock.do_handshake()  # type: ignore[attr-defined]
                        break
                    except ssl.SSLWantReadError:
                        _wait(sock, deadline, write=False)
                    except ssl.SSLWantWriteError:
                        _wait(sock, deadline, write=True)
            view = memoryview(_request_head(target, headers, len(body), method) + body)
            while view:
                sock.settimeout(_left(deadline, "sending"))
                try:
                    view = view[sock.send(view):]
                except TimeoutError:
                    raise DeadlineExceeded("Ran out of time while sending.") from None
            response = http.client.HTTPResponse(_SocketShim(_DeadlineReader(sock, deadline)),  # type: ignore[arg-type]
                                                method=method)
            response.begin()
            # Read a little: the excerpt is all we keep, and a receiver must not make us read gigabytes.
            excerpt = response.read(EXCERPT_CHARS * 4).decode("utf-8", "replace")[:EXCERPT_CHARS]
            response.close()
            return response.status, excerpt
        finally:
            sock.close()

    def close(self) -> None:
        self.resolver.close()
