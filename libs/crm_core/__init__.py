"""Shared foundations: settings, request/tenant context, errors, ids, logging, internal tokens."""
