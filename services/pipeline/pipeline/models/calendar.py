"""Calendar tables: personal feed tokens and the meetings replica the feed serves."""

from __future__ import annotations
