"""Tables of the csat area (see tickets/service/csat.py)."""

from __future__ import annotations
