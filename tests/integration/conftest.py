"""Reporting for the isolation attack suite: probe counts per category, printed whatever the capture mode."""

from __future__ import annotations

import pytest
from isolation_attack_probes import STATS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    stats = config.stash.get(STATS, None)
    if not stats or "runner" not in stats:
        return
    runner = stats["runner"]
    terminalreporter.write_sep("-", "isolation attack probes")
    for category, count in sorted(runner.counts.items()):
        elapsed = runner.elapsed.get(category)
        took = f" ({elapsed:.1f} s)" if elapsed else ""
        statuses = ", ".join(f"{status}: {n}" for (cat, status), n in sorted(runner.statuses.items()) if cat == category)
        terminalreporter.write_line(f"{count:>7}  {category}{took}  [answers {statuses}]")
    terminalreporter.write_line(f"{sum(runner.counts.values()):>7}  total probes; {len(runner.findings)} finding(s); "
                                f"{runner.throttled} answer(s) 429 retried")
    for line in stats.get("unseeded", []):
        terminalreporter.write_line(f"  unseeded path parameter (probed with A's ids of every kind): {line}")
