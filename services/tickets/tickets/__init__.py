"""Tickets service: support requests a tenant's team works through to resolution."""
