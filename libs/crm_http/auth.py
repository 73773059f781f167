"""Service-side authentication: only the gateway's signed internal token is accepted."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from flask import request

from crm_core import context
from crm_core.errors import Forbidden, Unauthorized
from crm_core.internal_token import (
    CAUSATION_HEADER,
    HEADER,
    MAX_CAUSATION,
    ORIGIN_HEADER,
    InternalTokenVerifier,
    InvalidInternalToken,
)
from crm_core.scopes import ADMIN_ROLES, ADMIN_SCOPE

F = TypeVar("F", bound=Callable[..., Any])


def internal_token_auth(verifier: InternalTokenVerifier) -> Callable[[], None]:
    def authenticate() -> None:
        token = request.headers.get(HEADER)
        if not token:
            raise Unauthorized("Call this service through the gateway.", headers={"WWW-Authenticate": "Bearer"})
        try:
            principal = verifier.verify(token)
        except InvalidInternalToken as exc:
            raise Unauthorized("The internal token is invalid or expired.") from exc
        # The request id came in X-Request-Id (the gateway forwards its own; the base app took it).
        context.set_principal(principal)
        if context.WORKFLOW_ROLE in principal.roles:
            # Only a workflow's token (minted by the automation worker) may say what caused the
            # write; for anyone else the headers mean nothing and the origin follows the principal.
            context.set_origin("workflow", causation_ids(request.headers.get(CAUSATION_HEADER, ""))
                               if request.headers.get(ORIGIN_HEADER) == "workflow" else ())

    return authenticate


def causation_ids(raw: str) -> tuple[str, ...]:
    """The run ids of an X-Internal-Causation header: UUIDs, oldest first, at most MAX_CAUSATION.
    An entry that is no UUID is dropped; past the limit the newest are kept, so a chain never
    looks shorter than MAX_CAUSATION (loop protection compares its length with a far lower cap)."""
    ids: list[str] = []
    for part in raw.split(",")[-MAX_CAUSATION:] if raw else ():
        part = part.strip()
        if 32 <= len(part) <= 36:
            try:
                ids.append(str(uuid.UUID(part)))
            except ValueError:
                continue
    return tuple(ids)


def require_scope(scope: str) -> None:
    principal = context.current_principal()
    if principal is None:
        raise Unauthorized("Authentication required.")
    if scope not in principal.scopes:
        raise Forbidden(f"This credential lacks the {scope!r} scope.", required_scope=scope)


def require_admin_access() -> None:
    """Tenant administration: an owner or admin user, or an API key granted the `admin` scope.
    Call it at the top of a use case, or wrap a route with `admin_only`."""
    principal = context.current_principal()
    if principal is None:
        raise Unauthorized("Authentication required.")
    if ADMIN_ROLES.intersection(principal.roles) and principal.user_id is not None:
        return
    if principal.api_key_id is not None and ADMIN_SCOPE in principal.scopes:
        return
    raise Forbidden("Only owners and admins (or an API key with the 'admin' scope) may do this.",
                    required_scope=ADMIN_SCOPE)


def admin_only(view: F) -> F:
    """Route decorator: `@bp.post(...)` then `@admin_only`."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        require_admin_access()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
