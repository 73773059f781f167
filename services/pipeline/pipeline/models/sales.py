"""Sales tables: products and deal line items, deal contacts with roles, exchange rates, the
tenant's pipeline settings (lost reasons, base currency), deal custom-field definitions."""

from __future__ import annotations
