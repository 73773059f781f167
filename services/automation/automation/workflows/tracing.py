"""Writes a workflow makes carry where they came from (origin "workflow") and the run's
causation chain, in their events: the loop protection reads it (docs/workflows.md)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence


@contextlib.contextmanager
def workflow_writes(causation: Sequence[str]) -> Iterator[None]:
    yield  # set by the origin helper's context API once merged
