"""Scopes and roles: what a credential may do."""

from __future__ import annotations

AREAS = ("contacts", "pipeline", "tickets", "campaigns", "reports", "automation", "mail")
ALL_SCOPES = tuple(f"{area}:{mode}" for area in AREAS for mode in ("read", "write"))
READ_SCOPES = tuple(s for s in ALL_SCOPES if s.endswith(":read"))
ROLES = ("owner", "admin", "member", "viewer")
ADMIN_ROLES = frozenset({"owner", "admin"})
# Tenant administration (users, API keys, settings, erase, custom fields, scoring rules, webhooks):
# held by owners and admins through their role, and by an API key only when granted explicitly.
ADMIN_SCOPE = "admin"
API_KEY_SCOPES = (*ALL_SCOPES, ADMIN_SCOPE)


def scopes_for_role(role: str) -> tuple[str, ...]:
    """Users act with every scope their role allows; viewers only read."""
    return READ_SCOPES if role == "viewer" else ALL_SCOPES
