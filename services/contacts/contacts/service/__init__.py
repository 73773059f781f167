"""Use cases and their events, one module per aggregate."""
