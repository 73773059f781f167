"""Token-bucket rate limits per tenant, per API key and per client address.

Redis when configured (one Lua script: atomic across gateway processes, clocked by Redis), an
in-process table otherwise (the embedded default runs one gateway). When Redis is unreachable the
gateway keeps serving on the in-process table (FallbackBuckets): limits then hold per process
instead of across processes, which beats refusing every request.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Protocol

import redis

from crm_core.metrics import metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    rate: float  # tokens per second
    burst: int  # bucket size


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # seconds until the bucket is full again
    retry_after: int  # seconds until one token is available (0 when allowed)


def _decide(tokens: float, allowed: bool, limit: Limit) -> Decision:
    remaining = max(0, math.floor(tokens))
    reset = math.ceil((limit.burst - tokens) / limit.rate) if tokens < limit.burst else 0
    retry = 0 if allowed else max(1, math.ceil((1 - tokens) / limit.rate))
    return Decision(allowed, limit.burst, remaining, reset, retry)


# One bucket of a take_all: key, limit, cost (0 looks without taking), and whether a refusal
# here stops the rest (a gate: the bad-credentials bucket is looked at before anything is taken).
Check = tuple[str, Limit, int, bool]


class Buckets(Protocol):
    def take(self, key: str, limit: Limit, cost: int = 1) -> Decision:
        """Cost 0 looks without taking: is a token there?"""
        ...

    def take_all(self, checks: list[Check]) -> list[Decision]:
        """Each bucket in order, as take() one by one would, in one step (one Redis round trip);
        a refused gate ends the list: the buckets after it are left untouched."""
        ...

    def reset(self, key: str) -> None: ...


def _take_each(buckets: Buckets, checks: list[Check]) -> list[Decision]:
    decisions = []
    for key, limit, cost, gate in checks:
        decisions.append(buckets.take(key, limit, cost))
        if gate and not decisions[-1].allowed:
            break
    return decisions


class LocalBuckets:
    def __init__(self) -> None:
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, limit: Limit, cost: int = 1) -> Decision:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._state.get(key, (float(limit.burst), now))
            tokens = min(float(limit.burst), tokens + (now - last) * limit.rate)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= cost
            self._state[key] = (tokens, now)
            if len(self._state) > 100_000:  # forget idle buckets rather than grow without bound
                self._state = {k: v for k, v in self._state.items() if now - v[1] < 3600}
        return _decide(tokens, allowed, limit)

    def take_all(self, checks: list[Check]) -> list[Decision]:
        return _take_each(self, checks)

    def reset(self, key: str) -> None:
        with self._lock:
            self._state.pop(key, None)


# A token bucket per key, in turn (ARGV: rate, burst, cost, gate per key), stopping after a
# refused gate; returns allowed, tokens for each bucket it went through. One key is one take.
TAKE_ALL_SCRIPT = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local out = {}
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[4 * i - 3])
  local burst = tonumber(ARGV[4 * i - 2])
  local cost = tonumber(ARGV[4 * i - 1])
  local gate = ARGV[4 * i] == '1'
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(state[1]) or burst
  local ts = tonumber(state[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
  local allowed = 0
  if tokens >= 1 then
    tokens = tokens - cost
    allowed = 1
  end
  redis.call('HSET', key, 'tokens', tokens, 'ts', now)
  redis.call('PEXPIRE', key, math.ceil(burst / rate * 1000) + 1000)
  out[#out + 1] = allowed
  out[#out + 1] = tostring(tokens)
  if gate and allowed == 0 then
    break
  end
end
return out
"""


class RedisBuckets:
    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.script_all = self.client.register_script(TAKE_ALL_SCRIPT)

    def take(self, key: str, limit: Limit, cost: int = 1) -> Decision:
        return self.take_all([(key, limit, cost, False)])[0]

    def take_all(self, checks: list[Check]) -> list[Decision]:
        args: list[object] = []
        for _, limit, cost, gate in checks:
            args += [limit.rate, limit.burst, cost, 1 if gate else 0]
        out = self.script_all(keys=[f"crm:rl:{key}" for key, _, _, _ in checks], args=args)
        return [_decide(float(out[2 * i + 1]), bool(out[2 * i]), checks[i][1]) for i in range(len(out) // 2)]

    def reset(self, key: str) -> None:
        self.client.delete(f"crm:rl:{key}")

    def ping(self) -> None:
        self.client.ping()


class FallbackBuckets:
    """Redis first; the in-process table while Redis is unreachable. One log line when an outage
    starts and one when it ends (never one per request); while down, Redis is tried again at most
    every `retry_seconds`, so requests don't each wait out a connect timeout."""

    def __init__(self, primary: RedisBuckets, retry_seconds: float = 1.0) -> None:
        self.primary = primary
        self.local = LocalBuckets()
        self.retry_seconds = retry_seconds
        self._down_since: float | None = None
        self._next_try = 0.0
        self._lock = threading.Lock()

    @property
    def degraded(self) -> bool:
        return self._down_since is not None

    def take(self, key: str, limit: Limit, cost: int = 1) -> Decision:
        if self._down_since is None or time.monotonic() >= self._next_try:
            try:
                decision = self.primary.take(key, limit, cost)
            except redis.RedisError as exc:
                self._went_down(exc)
            else:
                self._came_back()
                return decision
        metrics().rate_limit_fallbacks.inc()
        return self.local.take(key, limit, cost)

    def take_all(self, checks: list[Check]) -> list[Decision]:
        if self._down_since is None or time.monotonic() >= self._next_try:
            try:
                decisions = self.primary.take_all(checks)
            except redis.RedisError as exc:
                self._went_down(exc)
            else:
                self._came_back()
                return decisions
        metrics().rate_limit_fallbacks.inc()
        return self.local.take_all(checks)

    def reset(self, key: str) -> None:
        self.local.reset(key)
        if self._down_since is None:
            try:
                self.primary.reset(key)
            except redis.RedisError as exc:
                self._went_down(exc)

    def ping(self) -> None:
        self.primary.ping()

    def _went_down(self, exc: Exception) -> None:
        with self._lock:
            self._next_try = time.monotonic() + self.retry_seconds
            if self._down_since is not None:
                return
            self._down_since = time.monotonic()
        log.error("Redis unreachable for rate limits (%s: %s); limiting in-process until it is back",
                  type(exc).__name__, exc)
        metrics().rate_limit_redis_up.set(0)

    def _came_back(self) -> None:
        if self._down_since is None:
            return
        with self._lock:
            since, self._down_since = self._down_since, None
        if since is not None:
            log.warning("Redis reachable again for rate limits after %.1f s", time.monotonic() - since)
            metrics().rate_limit_redis_up.set(1)


def tightest(decisions: list[Decision]) -> Decision:
    """The decision a client should see: any refusal first, else the one with least room."""
    refused = [d for d in decisions if not d.allowed]
    if refused:
        return max(refused, key=lambda d: d.retry_after)
    return min(decisions, key=lambda d: d.remaining)
