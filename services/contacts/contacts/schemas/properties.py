"""Custom field definitions in and out: the shared schemas (crm_properties.schemas)."""

from __future__ import annotations

from crm_properties.schemas import PropertyCreateSchema, PropertySchema, PropertyUpdateSchema

__all__ = ["PropertyCreateSchema", "PropertySchema", "PropertyUpdateSchema"]
