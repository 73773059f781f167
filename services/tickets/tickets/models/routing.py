"""Tables of the routing area (see tickets/service/routing.py)."""

from __future__ import annotations
