"""uuid7s (ids for a bulk write) makes what as many uuid7() calls would: version 7, in order, unique."""

from __future__ import annotations

from crm_core import ids


def test_uuid7s_are_ordered_unique_v7_ids_between_single_ones() -> None:
    made = [ids.uuid7(), *ids.uuid7s(3), ids.uuid7(), *ids.uuid7s(10_000), ids.uuid7(), *ids.uuid7s(0), *ids.uuid7s(1)]
    assert len(made) == 10_007 and len(set(made)) == len(made)
    assert made == sorted(made)
    assert {(u.version, u.variant) for u in made} == {(7, "specified in RFC 4122")}


def test_uuid7s_borrow_the_next_millisecond_when_the_counter_runs_out() -> None:
    batch = ids.uuid7s(0x1000 * 2 + 5)  # more than one millisecond's counter
    millis = [u.int >> 80 for u in batch]
    assert batch == sorted(batch) and len(set(millis)) >= 3
    assert all(((u.int >> 64) & 0xFFF) <= 0xFFF for u in batch)
