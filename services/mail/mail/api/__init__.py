"""Mail routes: /v1/mail/... (a tenant's credential) and the open paths /inbound/mime/{secret}
and /v1/mail/verify (found by the secret they carry; see crm_runtime.catalog)."""

from __future__ import annotations

from flask import Blueprint

from crm_runtime.service import ServiceRuntime
from mail.api import addresses, inbound, messages, senders, suppressions


def register(bp: Blueprint, runtime: ServiceRuntime) -> None:
    for module in (messages, senders, suppressions, addresses, inbound):
        module.register(bp, runtime)
