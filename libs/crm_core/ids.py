"""Time-ordered UUIDs (version 7, RFC 9562) so ids sort by creation and index well."""

from __future__ import annotations

import array
import hashlib
import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def uuid7() -> uuid.UUID:
    """A UUIDv7: 48-bit unix milliseconds, then a 12-bit counter for ordering within a millisecond."""
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            _counter += 1
            if _counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                ms += 1
                _counter = 0
        else:
            _counter = 0
        _last_ms = ms
        counter = _counter
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= rand
    return uuid.UUID(int=value)


def uuid7s(count: int) -> list[uuid.UUID]:
    """`count` UUIDv7s in order, as `count` calls of uuid7() would make them, for a bulk write: one
    lock, one clock reading and one read of the random source instead of one each per id."""
    global _last_ms, _counter
    if count <= 0:
        return []
    with _lock:
        ms = time.time_ns() // 1_000_000
        counter = _counter + 1 if ms <= _last_ms else 0
        ms = max(ms, _last_ms)
        stamps = []
        left = count
        while left:
            if counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                ms, counter = ms + 1, 0
            take = min(left, 0x1000 - counter)
            base = ((ms & ((1 << 48) - 1)) << 80) | (0x7 << 76) | (0b10 << 62)
            stamps += [base | (c << 64) for c in range(counter, counter + take)]
            counter += take
            left -= take
        _last_ms, _counter = ms, counter - 1
    noise = array.array("Q", os.urandom(8 * count))  # 64 random bits per id
    mask = (1 << 62) - 1
    return [uuid.UUID(int=stamp | (bits & mask)) for stamp, bits in zip(stamps, noise, strict=True)]


def secret_hash(secret: str) -> str:
    """How a random secret (a token, a key, a link's secret) is kept: its sha256. Secrets of 96
    bits or more need no slow hash (there is nothing to guess)."""
    return hashlib.sha256(secret.encode()).hexdigest()
