"""Tables of the kb area (see tickets/service/kb.py)."""

from __future__ import annotations
