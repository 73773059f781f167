"""Per-request (or per-event) context: who is calling, for which tenant, under which request id,
and where the change comes from (origin, and the workflow runs that caused it)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable, Iterator
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
# Where a change comes from, as events carry it (`origin`, `causation`): workflows' exclude_sources
# and loop protection read them (docs/workflows.md). None: derived from the principal.
ORIGINS = ("user", "api", "import", "workflow", "system")
WORKFLOW_ROLE = "workflow"  # the internal principal a workflow run acts as (no user, no API key)
_origin: ContextVar[str | None] = ContextVar("crm_origin", default=None)
_causation: ContextVar[tuple[str, ...]] = ContextVar("crm_causation", default=())


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


def current_origin() -> str:
    """Where the change being written comes from: what set_origin / origin_context set, else the
    principal's kind: a workflow run "workflow", a user "user", an API key "api"; nobody (a
    consumer, a job, the public caller of an open path) "system"."""
    origin = _origin.get()
    if origin is not None:
        return origin
    principal = _principal.get()
    if principal is None or is_public_caller(principal):
        return "system"
    if WORKFLOW_ROLE in principal.roles:
        return "workflow"
    if principal.api_key_id is not None:
        return "api"
    return "user" if principal.user_id is not None else "system"


def current_causation() -> tuple[str, ...]:
    """The workflow run ids that led to this change, oldest first (empty when none did)."""
    return _causation.get()


def _checked_origin(origin: str | None) -> str | None:
    if origin is not None and origin not in ORIGINS:
        raise ValueError(f"unknown origin {origin!r}; one of {', '.join(ORIGINS)}")
    return origin


def set_origin(origin: str | None, causation: Iterable[str] = ()) -> None:
    """For the rest of this request (cleared by clear()); None: derived from the principal."""
    _origin.set(_checked_origin(origin))
    _causation.set(tuple(causation))


@contextlib.contextmanager
def origin_context(origin: str | None, causation: Iterable[str] = ()) -> Iterator[None]:
    """Run a block as changes of `origin` caused by `causation` (imports, consumers, tests)."""
    o_token = _origin.set(_checked_origin(origin))
    c_token = _causation.set(tuple(causation))
    try:
        yield
    finally:
        _origin.reset(o_token)
        _causation.reset(c_token)


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
    _origin.set(None)
    _causation.set(())


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
