"""Token-bucket rate limits per tenant, per API key and per client address.

Redis when configured (one Lua script: atomic across gateway processes, clocked by Redis), an
in-process table otherwise (the embedded default runs one gateway).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Protocol

import redis


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


class Buckets(Protocol):
    def take(self, key: str, limit: Limit) -> Decision: ...


class LocalBuckets:
    def __init__(self) -> None:
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, limit: Limit) -> Decision:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._state.get(key, (float(limit.burst), now))
            tokens = min(float(limit.burst), tokens + (now - last) * limit.rate)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            self._state[key] = (tokens, now)
            if len(self._state) > 100_000:  # forget idle buckets rather than grow without bound
                self._state = {k: v for k, v in self._state.items() if now - v[1] < 60}
        return _decide(tokens, allowed, limit)


TAKE_SCRIPT = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(tokens)}
"""


class RedisBuckets:
    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.script = self.client.register_script(TAKE_SCRIPT)

    def take(self, key: str, limit: Limit) -> Decision:
        allowed, tokens = self.script(keys=[f"crm:rl:{key}"], args=[limit.rate, limit.burst])
        return _decide(float(tokens), bool(allowed), limit)

    def ping(self) -> None:
        self.client.ping()


def tightest(decisions: list[Decision]) -> Decision:
    """The decision a client should see: any refusal first, else the one with least room."""
    refused = [d for d in decisions if not d.allowed]
    if refused:
        return max(refused, key=lambda d: d.retry_after)
    return min(decisions, key=lambda d: d.remaining)
