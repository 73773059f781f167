"""Writes a workflow makes carry where they came from (origin "workflow") and the run's
causation chain, in their events: the loop protection reads it (docs/workflows.md)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from crm_core.context import origin_context


@contextlib.contextmanager
def workflow_writes(causation: Sequence[str]) -> Iterator[None]:
    """Events written inside (automation's own outbox: mail requests, say) say origin "workflow"
    and carry the run's chain, like the writes the services make for the run's API calls."""
    with origin_context("workflow", tuple(causation)):
        yield
