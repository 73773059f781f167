"""The Redis token bucket is shared by every gateway process and refills over time."""

from __future__ import annotations

import time
import uuid

import pytest

from gateway.ratelimit import Limit, LocalBuckets, RedisBuckets

pytestmark = pytest.mark.integration


def test_redis_bucket_refuses_past_burst_and_refills(redis_url: str) -> None:
    first, second = RedisBuckets(redis_url), RedisBuckets(redis_url)  # two gateway processes
    key, limit = f"t:{uuid.uuid4()}", Limit(rate=5.0, burst=3)
    decisions = [b.take(key, limit) for b in (first, second, first, second)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[3].retry_after >= 1 and decisions[2].remaining == 0
    time.sleep(0.45)  # 5 tokens/s: two tokens back
    assert first.take(key, limit).allowed


def test_local_bucket_matches_redis_semantics() -> None:
    local, limit = LocalBuckets(), Limit(rate=1.0, burst=2)
    assert [local.take("k", limit).allowed for _ in range(3)] == [True, True, False]
    assert local.take("other", limit).allowed
