"""Validation in, serialisation out; one module per area."""
