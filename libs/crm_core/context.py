"""Per-request (or per-event) context: who is calling, for which tenant, under which request id."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Principal:
    tenant_id: uuid.UUID
    user_id: uuid.UUID | None = None
    roles: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    api_key_id: uuid.UUID | None = None
    extra: dict[str, str] = field(default_factory=dict)


_tenant: ContextVar[uuid.UUID | None] = ContextVar("crm_tenant", default=None)
_request_id: ContextVar[str | None] = ContextVar("crm_request_id", default=None)
_principal: ContextVar[Principal | None] = ContextVar("crm_principal", default=None)


def current_tenant() -> uuid.UUID | None:
    return _tenant.get()


def require_tenant() -> uuid.UUID:
    tenant = _tenant.get()
    if tenant is None:
        raise RuntimeError("no tenant in context: tenant-scoped data needs a tenant")
    return tenant


def current_request_id() -> str | None:
    return _request_id.get()


def current_principal() -> Principal | None:
    return _principal.get()


def current_actor_id() -> str | None:
    """The user acting in this request (none for an API key, a consumer or the public caller):
    events carry it as `actor_id`, so a consumer can tell a self-assignment from an assignment."""
    principal = _principal.get()
    if principal is None or principal.user_id is None or is_public_caller(principal):
        return None
    return str(principal.user_id)


def set_request_id(request_id: str | None) -> None:
    _request_id.set(request_id)


def set_principal(principal: Principal | None) -> None:
    _principal.set(principal)
    _tenant.set(principal.tenant_id if principal else None)


@contextlib.contextmanager
def tenant_context(tenant_id: uuid.UUID | str | None, request_id: str | None = None) -> Iterator[None]:
    """Run a block as one tenant (consumers, jobs, tests)."""
    tid = uuid.UUID(str(tenant_id)) if tenant_id is not None else None
    t_token = _tenant.set(tid)
    r_token = _request_id.set(request_id) if request_id is not None else None
    try:
        yield
    finally:
        _tenant.reset(t_token)
        if r_token is not None:
            _request_id.reset(r_token)


def clear() -> None:
    _tenant.set(None)
    _request_id.set(None)
    _principal.set(None)


# The caller of an open path (catalog.ServiceInfo.open_prefixes): the gateway forwards it without a
# credential, under this principal. Its nil tenant owns no rows, and it holds no scope, so any
# tenant route answers it 403/404; an open route finds its tenant from the request's own secret.
PUBLIC_TENANT = uuid.UUID(int=0)
PUBLIC_ROLE = "public"


def public_principal() -> Principal:
    return Principal(PUBLIC_TENANT, roles=(PUBLIC_ROLE,))


def is_public_caller(principal: Principal | None = None) -> bool:
    principal = principal if principal is not None else current_principal()
    return principal is not None and principal.tenant_id == PUBLIC_TENANT and PUBLIC_ROLE in principal.roles
