"""One HTTP attempt of a delivery: check where the URL points now, sign, POST, note the answer."""

from __future__ import annotations

import time
from dataclasses import dataclass

import urllib3

from automation import signing
from automation.urls import UnsafeUrl, check

EXCERPT_CHARS = 500
ERROR_CHARS = 1000


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    error: str | None
    duration_ms: int
    response: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class Sender:
    """Posts signed envelopes; connects to the address it has just checked, never to a new lookup."""

    def __init__(self, *, allow_private: bool = False, connect_timeout: float = 5.0, read_timeout: float = 10.0,
                 ca_certs: str | None = None) -> None:
        self.allow_private = allow_private
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        tls = {"ca_certs": ca_certs} if ca_certs else {}  # default: the system's trust store
        self.http = urllib3.PoolManager(num_pools=50, maxsize=1, retries=False, timeout=self.timeout, **tls)

    def send(self, url: str, secret: str, message_id: str, body: bytes) -> AttemptResult:
        started = time.perf_counter()

        def elapsed() -> int:
            return int((time.perf_counter() - started) * 1000)

        try:
            # Again at every attempt: the name may resolve elsewhere than when it was saved.
            target = check(url, allow_private=self.allow_private)
        except UnsafeUrl as exc:
            return AttemptResult(None, str(exc)[:ERROR_CHARS], elapsed())
        headers = {**signing.headers(secret, message_id, int(time.time()), body), "Host": target.host_header}
        # TLS still verifies the certificate against the name in the URL, not the address.
        tls = {"server_hostname": target.host, "assert_hostname": target.host} if target.scheme == "https" else {}
        try:
            pool = self.http.connection_from_host(str(target.address), target.port, target.scheme, pool_kwargs=tls)
            resp = pool.urlopen("POST", target.path, body=body, headers=headers, redirect=False, retries=False,
                                assert_same_host=False, preload_content=False, timeout=self.timeout)
            try:
                # Read a little: the excerpt is all we keep, and a receiver must not make us read gigabytes.
                excerpt = resp.read(EXCERPT_CHARS * 4).decode("utf-8", "replace")[:EXCERPT_CHARS]
            finally:
                resp.close()
                resp.release_conn()
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return AttemptResult(None, f"{type(exc).__name__}: {exc}"[:ERROR_CHARS], elapsed())
        error = None if 200 <= resp.status < 300 else f"The receiver answered HTTP {resp.status}."
        return AttemptResult(resp.status, error, elapsed(), excerpt or None)

    def close(self) -> None:
        self.http.clear()
