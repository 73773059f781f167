"""take_all (one step, one Redis round trip) decides as take() one bucket after another did."""

from __future__ import annotations

import uuid

import pytest

from gateway.ratelimit import Buckets, Limit, LocalBuckets, RedisBuckets

pytestmark = pytest.mark.integration


def _scenario(make: type[Buckets] | object, take_all: bool) -> list[tuple[bool, int, int]]:
    buckets = make() if callable(make) else make
    run = uuid.uuid4().hex
    bad, tenant, key = f"bad:{run}", f"t:{run}", f"k:{run}"
    gate, t_lim, k_lim = Limit(rate=0.001, burst=2), Limit(rate=0.001, burst=5), Limit(rate=0.001, burst=3)
    seen = []
    for step in range(8):
        if step in (2, 3):
            buckets.take(bad, gate)  # two bad credentials: the gate is empty from step 3 on
        checks = [(bad, gate, 0, True), (tenant, t_lim, 1, False), (key, k_lim, 1, False)]
        if take_all:
            decisions = buckets.take_all(checks)
        else:
            decisions = []
            for k, lim, cost, is_gate in checks:
                decisions.append(buckets.take(k, lim, cost))
                if is_gate and not decisions[-1].allowed:
                    break
        seen += [(d.allowed, d.remaining, d.limit) for d in decisions] + [(False, -1, len(decisions))]
    return seen


def test_local_take_all_equals_one_by_one() -> None:
    assert _scenario(LocalBuckets, True) == _scenario(LocalBuckets, False)


def test_redis_take_all_equals_one_by_one_and_local(redis_url: str) -> None:
    redis_all = _scenario(RedisBuckets(redis_url), True)
    assert redis_all == _scenario(RedisBuckets(redis_url), False) == _scenario(LocalBuckets, True)
    assert (False, -1, 1) in redis_all  # the gate did stop a step
