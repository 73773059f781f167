"""Client address through trusted proxies, failed-login throttle, bad credentials counted, and
the gateway staying up on the in-process limiter when Redis goes away."""

from __future__ import annotations

import ipaddress
import logging
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask
from gwtest import bearer, signup

from gateway.auth import client_address, parse_trusted_proxies
from gateway.ratelimit import FallbackBuckets, Limit, RedisBuckets

PROXIES = parse_trusted_proxies("10.0.0.0/8, 192.168.1.1")


@pytest.mark.parametrize(("peer", "xff", "expected"), [
    ("203.0.113.9", ["1.2.3.4"], "203.0.113.9"),  # untrusted peer: its header is ignored
    ("10.0.0.5", ["198.51.100.7"], "198.51.100.7"),
    ("10.0.0.5", ["6.6.6.6, 198.51.100.7, 10.1.1.1"], "198.51.100.7"),  # spoofed left part skipped
    ("10.0.0.5", ["6.6.6.6", "198.51.100.7, 192.168.1.1"], "198.51.100.7"),  # several header lines
    ("10.0.0.5", ["10.2.2.2, 10.3.3.3"], "10.2.2.2"),  # all trusted: the leftmost
    ("10.0.0.5", ["198.51.100.7, not-an-ip"], "10.0.0.5"),  # garbage from a proxy: stop at the last good hop
    ("10.0.0.5", [], "10.0.0.5"),
])
def test_client_address_walks_forwarded_for_right_to_left(peer: str, xff: list[str], expected: str) -> None:
    assert client_address(peer, xff, PROXIES) == expected


def test_client_address_without_trusted_proxies_is_the_peer() -> None:
    assert client_address("10.0.0.5", ["198.51.100.7"], ()) == "10.0.0.5"
    with pytest.raises(RuntimeError, match="CRM_TRUSTED_PROXIES"):
        parse_trusted_proxies("10.0.0.0/8, nonsense")
    assert parse_trusted_proxies("::1") == (ipaddress.ip_network("::1"),)


def test_anonymous_limit_is_per_client_behind_a_trusted_proxy(make_gateway: Callable[..., Flask]) -> None:
    app = make_gateway(CRM_TRUSTED_PROXIES="127.0.0.1/32", CRM_RATE_LIMIT_ANONYMOUS_BURST="3",
                       CRM_RATE_LIMIT_ANONYMOUS_RATE="0.001")
    gw = app.test_client()
    body = {"email": "x@example.com", "password": "whatever12345"}
    a = [gw.post("/v1/auth/token", json=body, headers={"X-Forwarded-For": "198.51.100.1"}).status_code for _ in range(4)]
    assert a[-1] == 429
    # Another client behind the same load balancer has its own bucket.
    assert gw.post("/v1/auth/token", json=body, headers={"X-Forwarded-For": "198.51.100.2"}).status_code == 401


def test_failed_logins_are_throttled_per_email_whether_or_not_it_exists(make_gateway: Callable[..., Flask]) -> None:
    app = make_gateway(CRM_LOGIN_FAILURES_MAX="3", CRM_LOGIN_FAILURES_WINDOW="900", CRM_RATE_LIMIT_ANONYMOUS_BURST="100")
    gw = app.test_client()
    owner = signup(gw)
    for email in (owner["email"], "nobody@example.com"):
        codes = [gw.post("/v1/auth/token", json={"email": email, "password": "wrong password!"}).status_code
                 for _ in range(4)]
        assert codes == [401, 401, 401, 429], (email, codes)
    refused = gw.post("/v1/auth/token", json={"email": owner["email"], "password": owner["password"]})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1  # even the right password waits
    # Same body for an existing and a missing account.
    ghost = gw.post("/v1/auth/token", json={"email": "nobody@example.com", "password": "x" * 12})
    assert ghost.get_json()["detail"] == refused.get_json()["detail"]
    # Another email is not affected; a success clears that email's failures.
    other = signup(gw)
    gw.post("/v1/auth/token", json={"email": other["email"], "password": "wrong password!"})
    gw.post("/v1/auth/token", json={"email": other["email"], "password": "wrong password!"})
    assert gw.post("/v1/auth/token", json={"email": other["email"], "password": other["password"]}).status_code == 200
    assert [gw.post("/v1/auth/token", json={"email": other["email"], "password": "wrong password!"}).status_code
            for _ in range(3)] == [401, 401, 401]


def test_bad_credentials_count_against_the_caller(make_gateway: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_gateway(CRM_RATE_LIMIT_BAD_CREDENTIALS_BURST="5", CRM_RATE_LIMIT_BAD_CREDENTIALS_RATE="0.001")
    gw = app.test_client()
    owner = signup(gw)
    from gateway import keys as keys_module

    lookups: list[str] = []
    real = keys_module.ApiKeys.authenticate
    monkeypatch.setattr(keys_module.ApiKeys, "authenticate",
                        staticmethod(lambda session, credential: (lookups.append(credential), real(session, credential))[1]))
    bogus = "crm_abcdef123456_" + "x" * 40
    codes = [gw.get("/v1/me", headers=bearer(bogus)).status_code for _ in range(3)]
    assert codes == [401, 401, 401] and len(lookups) == 1  # a repeated bogus key costs no query
    codes = [gw.get("/v1/me", headers=bearer(t)).status_code for t in ("garbage", "")]
    assert codes == [401, 401]
    limited = gw.get("/v1/me", headers=bearer("garbage"))
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    # Refused before any lookup, even with a good credential, from this address...
    assert gw.get("/v1/me", headers=bearer(owner["access_token"])).status_code == 429
    # ...but another client is served.
    assert gw.get("/v1/me", headers=bearer(owner["access_token"]),
                  environ_base={"REMOTE_ADDR": "198.51.100.9"}).status_code == 200


# --------------------------------------------------------------------------- Redis down


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[str, Callable[[], None]]]:
    """A Redis of this test's own (never the shared one): (url, a function that stops it)."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        pytest.skip("redis-server not installed")
    port = _free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.RedisError:
            time.sleep(0.05)

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)

    try:
        yield url, stop
    finally:
        stop()


def test_gateway_keeps_serving_when_redis_goes_down(make_gateway: Callable[..., Flask],
                                                     private_redis: tuple[str, Callable[[], None]],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    url, stop_redis = private_redis
    app = make_gateway(redis_url=url)
    buckets = app.extensions["crm_guard"].buckets
    assert isinstance(buckets, FallbackBuckets)
    gw = app.test_client()
    owner = signup(gw)
    assert gw.get("/v1/me", headers=bearer(owner["access_token"])).status_code == 200
    assert not buckets.degraded
    stop_redis()
    caplog.set_level(logging.WARNING, logger="gateway.ratelimit")
    codes = [gw.get("/v1/me", headers=bearer(owner["access_token"])).status_code for _ in range(20)]
    assert codes == [200] * 20 and buckets.degraded
    assert "RateLimit-Remaining" in gw.get("/v1/me", headers=bearer(owner["access_token"])).headers
    outage_lines = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
    assert len(outage_lines) == 1  # once per outage, not per request
    from crm_core.metrics import exposition

    text = exposition().decode()
    fallbacks = [line for line in text.splitlines() if line.startswith("crm_rate_limit_fallback_total ")]
    assert fallbacks and float(fallbacks[0].split()[1]) >= 20, fallbacks
    assert "crm_rate_limit_redis_up 0.0" in text
    # The limiter still limits while degraded (in-process).
    limit = Limit(rate=0.001, burst=2)
    assert [buckets.take("t:x", limit).allowed for _ in range(3)] == [True, True, False]


def test_fallback_returns_to_redis_and_logs_it(private_redis: tuple[str, Callable[[], None]],
                                               caplog: pytest.LogCaptureFixture) -> None:
    url, _ = private_redis
    dead = FallbackBuckets(RedisBuckets(f"redis://127.0.0.1:{_free_port()}/0"), retry_seconds=0.05)
    caplog.set_level(logging.WARNING, logger="gateway.ratelimit")
    assert dead.take("k", Limit(1, 5)).allowed and dead.degraded
    dead.primary = RedisBuckets(url)  # the same address comes back, as it were
    time.sleep(0.06)
    assert dead.take("k", Limit(1, 5)).allowed and not dead.degraded
    assert any("reachable again" in r.getMessage() for r in caplog.records)
