"""Composition root of the gateway."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from argon2 import PasswordHasher
from flask import Blueprint, Flask

from crm_core.internal_token import InternalTokenSigner, TokenCache
from crm_core.settings import REPO_ROOT, Settings
from crm_db.database import Database
from crm_db.roles import check_app_role
from crm_events.log import check_event_log
from crm_events.outbox import Outbox
from crm_http.app import PUBLIC_PATHS, create_base_app
from crm_http.openapi import ApiDoc
from crm_runtime.catalog import DOMAIN_SERVICES, SCOPE_AREAS
from gateway import api
from gateway.auth import Guard, RateLimits, make_authenticate, parse_trusted_proxies, rate_limit_headers
from gateway.console import Console
from gateway.credentials import UserStatus, VerifiedApiKeys
from gateway.docs import OpenApiCache
from gateway.hygiene import install_internal_only, reject_non_canonical
from gateway.keys import ApiKeys
from gateway.models import metadata
from gateway.proxy import INBOUND_MIME_PREFIX, Route, Router
from gateway.ratelimit import FallbackBuckets, Limit, LocalBuckets, RedisBuckets
from gateway.service import DEFAULT_COOKIE_REUSE_GRACE, DEFAULT_REFRESH_MAX_AGE, Accounts
from gateway.tokens import AccessTokens
from gateway.verification import EmailLinks


def _limit(settings: Settings, name: str, rate: str, burst: str) -> Limit:
    return Limit(rate=float(settings.get(f"CRM_RATE_LIMIT_{name}_RATE", rate) or rate),
                 burst=int(settings.get(f"CRM_RATE_LIMIT_{name}_BURST", burst) or burst))


def _int(settings: Settings, name: str, default: int) -> int:
    raw = (settings.get(name) or "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError as exc:
        raise RuntimeError(f"{name} must be an integer, got {raw!r}") from exc
    if value < 0:
        raise RuntimeError(f"{name} must not be negative, got {value}")
    return value


def _routes(settings: Settings) -> list[Route]:
    routes = []
    for info in DOMAIN_SERVICES:
        base = settings.get(f"CRM_{info.name.upper()}_URL", f"http://127.0.0.1:{info.web_port}") or ""
        routes += [Route(p, info.name, base.rstrip("/"), SCOPE_AREAS[info.name]) for p in info.prefixes]
        routes += [Route(p, info.name, base.rstrip("/"), SCOPE_AREAS[info.name], open=True)
                   for p in info.open_prefixes]
    return routes


def _body_limits(settings: Settings) -> dict[str, int]:
    """Raw inbound mail (a provider's webhook) may be as big as a message the mail service accepts."""
    raw = (settings.get("CRM_MAIL_MAX_MESSAGE_MIB") or "25").strip()
    try:
        mib = float(raw)
    except ValueError as exc:
        raise RuntimeError(f"CRM_MAIL_MAX_MESSAGE_MIB must be a number, got {raw!r}") from exc
    # A little over the message itself: the service, not the gateway, answers "too big" (552-like).
    return {INBOUND_MIME_PREFIX: int(mib * 1024 * 1024) + 64 * 1024}


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env("gateway")
    jwt_secret = settings.get("CRM_JWT_SECRET")
    if not jwt_secret or len(jwt_secret) < 32:
        raise RuntimeError("CRM_JWT_SECRET must be set to at least 32 characters")
    if not settings.internal_private_key:
        raise RuntimeError("CRM_INTERNAL_PRIVATE_KEY(_FILE) is required: the gateway signs internal tokens")
    db = Database(settings.database_url)
    check_app_role(db.engine, "gateway")
    outbox = Outbox("gateway", metadata())
    access = AccessTokens(jwt_secret, int(settings.get("CRM_ACCESS_TOKEN_TTL", "900") or 900))
    buckets = FallbackBuckets(RedisBuckets(settings.redis_url)) if settings.redis_url else LocalBuckets()
    limits = RateLimits(tenant=_limit(settings, "TENANT", "100", "200"), api_key=_limit(settings, "KEY", "50", "100"),
                        anonymous=_limit(settings, "ANONYMOUS", "1", "20"),
                        bad_credentials=_limit(settings, "BAD_CREDENTIALS", "0.2", "20"),
                        login_failures=Limit(rate=_int(settings, "CRM_LOGIN_FAILURES_MAX", 10)
                                             / max(1, _int(settings, "CRM_LOGIN_FAILURES_WINDOW", 900)),
                                             burst=_int(settings, "CRM_LOGIN_FAILURES_MAX", 10)),
                        open_paths=_limit(settings, "OPEN", "10", "100"),
                        verify_resend=_limit(settings, "VERIFY_RESEND", str(5 / 3600), "5"))
    guard = Guard(buckets, limits, parse_trusted_proxies(settings.get("CRM_TRUSTED_PROXIES")))
    internal_port = _int(settings, "CRM_INTERNAL_PORT", 0) or None
    router = Router(_routes(settings), pool_size=int(settings.get("CRM_GATEWAY_POOL_SIZE", "32") or 32),
                    upload_limit=int(settings.get("CRM_IMPORT_MAX_BYTES", str(2 * 1024**3)) or 2 * 1024**3),
                    body_limits=_body_limits(settings))
    max_age = dt.timedelta(seconds=_int(settings, "CRM_REFRESH_TOKEN_MAX_AGE",
                                        int(DEFAULT_REFRESH_MAX_AGE.total_seconds())))
    links = EmailLinks(outbox, public_url=settings.get("CRM_PUBLIC_URL", "http://127.0.0.1:8080") or "",
                       verification_ttl=dt.timedelta(hours=_int(settings, "CRM_EMAIL_VERIFICATION_HOURS", 48) or 48),
                       unverified_grace=dt.timedelta(days=_int(settings, "CRM_UNVERIFIED_ACCOUNT_DAYS", 7)))
    grace = dt.timedelta(seconds=_int(settings, "CRM_REFRESH_COOKIE_REUSE_SECONDS",
                                      int(DEFAULT_COOKIE_REUSE_GRACE.total_seconds())))
    accounts = Accounts(outbox, access, PasswordHasher(), refresh_max_age=max_age, cookie_reuse_grace=grace, links=links)

    def database() -> None:
        db.ping()

    def event_log() -> None:
        check_event_log(settings)

    # Not Redis: without it the gateway limits in-process (FallbackBuckets) and stays ready; the
    # outage shows as crm_rate_limit_redis_up 0 and one log line.
    readiness = [database, event_log]
    public = PUBLIC_PATHS | {"/v1/openapi.json", "/docs"}
    # Deactivation and role changes reach tokens already issued within this many seconds.
    users = UserStatus(db, ttl=float(settings.get("CRM_USER_STATUS_TTL_SECONDS", "5") or 5))
    # A verified API key is trusted this long per process, and only while no key has changed since
    # (checked on every request, so a revocation is refused at once everywhere); 0 looks up every time.
    keys = VerifiedApiKeys(db, ttl=float(settings.get("CRM_API_KEY_CACHE_SECONDS", "5") or 5))
    app = create_base_app(settings, readiness=readiness, public_paths=public,
                          authenticate=make_authenticate(db, access, guard, api.ANONYMOUS_PATHS, users=users,
                                                         keys=keys, is_open=router.is_open))
    app.after_request(rate_limit_headers)
    app.extensions["crm_guard"] = guard
    install_internal_only(app, internal_port)
    console_dir = Path(settings.get("CRM_CONSOLE_DIR", "") or REPO_ROOT / "web" / "dist")
    app.wsgi_app = reject_non_canonical(Console(app.wsgi_app, console_dir))  # type: ignore[method-assign]
    doc = ApiDoc("CRM gateway")
    api.document(doc)
    bp = Blueprint("gateway", __name__)
    # An internal token is reused per (principal, service) for this long (of its 60 s); 0 mints each time.
    tokens = TokenCache(InternalTokenSigner.from_pem(settings.internal_private_key),
                        reuse_seconds=float(settings.get("CRM_INTERNAL_TOKEN_REUSE_SECONDS", "20") or 20))
    api.register(bp, db, accounts, ApiKeys(outbox), router, tokens, OpenApiCache(doc, router), guard, users)
    app.register_blueprint(bp)
    return app
