"""Reporting service: per-tenant projections built from the other services' events."""
