"""The services of the platform and their local ports (the embedded default binds 127.0.0.1)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceInfo:
    name: str
    web_port: int  # local default; containers use 8000
    metrics_port: int  # worker's /metrics
    # Public paths the gateway routes here (a tenant's credential needed); a "*" segment matches
    # any one path segment ("/v1/deals/*/activities"); longer prefixes win.
    prefixes: tuple[str, ...]
    # Paths the gateway forwards without a credential (rate-limited per client address), with an
    # internal token for the nil "public" principal: the service finds the tenant from a secret
    # in the request itself (an inbound-mail webhook secret, a verification token).
    open_prefixes: tuple[str, ...] = ()


SERVICES: tuple[ServiceInfo, ...] = (
    ServiceInfo("gateway", 8080, 9100, ()),
    ServiceInfo("contacts", 8081, 9101, ("/v1/contacts", "/v1/companies", "/v1/properties", "/v1/imports", "/v1/exports",
                                        "/v1/scoring-rules", "/v1/settings/contacts", "/v1/logged-emails", "/v1/saved-views",
                                        # A deal's timeline: activities live in contacts (see README, "Activities").
                                        "/v1/deals/*/activities")),
    ServiceInfo("pipeline", 8082, 9102, ("/v1/pipelines", "/v1/deals", "/v1/tasks", "/v1/forecast", "/v1/products",
                                         "/v1/exchange-rates", "/v1/settings/pipeline", "/v1/sales-targets",
                                         "/v1/notifications", "/v1/calendar", "/v1/follow-ups", "/v1/properties/deals"),
                open_prefixes=("/calendar/",)),
    ServiceInfo("tickets", 8083, 9103, ("/v1/tickets", "/v1/sla-policies", "/v1/sla-recomputes", "/v1/business-hours", "/v1/teams",
                                        "/v1/routing-rules", "/v1/kb", "/v1/portal", "/v1/csat",
                                        "/v1/properties/tickets", "/v1/settings/tickets"),
                # The help centre, the customer portal and CSAT survey links: no staff credential.
                open_prefixes=("/portal/",)),
    ServiceInfo("campaigns", 8084, 9104, ("/v1/segments", "/v1/templates", "/v1/campaigns", "/v1/sequences")),
    ServiceInfo("reporting", 8085, 9105, ("/v1/reports",)),
    ServiceInfo("automation", 8086, 9106, ("/v1/workflows", "/v1/workflow-runs", "/v1/webhooks"),
                # A workflow's incoming webhook: its secret URL and signature are the credential.
                open_prefixes=("/hooks/workflows/",)),
    ServiceInfo("mail", 8087, 9107, ("/v1/mail",), open_prefixes=("/inbound/mime/", "/v1/mail/verify")),
)

BY_NAME = {s.name: s for s in SERVICES}
DOMAIN_SERVICES = tuple(s for s in SERVICES if s.name != "gateway")

# Scope area of each routed prefix: GET needs <area>:read, anything else <area>:write.
SCOPE_AREAS = {"contacts": "contacts", "pipeline": "pipeline", "tickets": "tickets", "campaigns": "campaigns",
               "reporting": "reports", "automation": "automation", "mail": "mail"}
