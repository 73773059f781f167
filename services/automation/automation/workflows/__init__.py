"""Workflows: definitions and versions, triggers, the run engine, and the actions it performs
through the owning services' APIs (docs/workflows.md)."""
