"""Forecast tables: sales targets (quota per owner and period) and weekly forecast snapshots."""

from __future__ import annotations
