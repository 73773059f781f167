"""Tables of the sla area (see tickets/service/sla.py)."""

from __future__ import annotations
