"""Composition root of the campaigns service."""

from __future__ import annotations

from flask import Flask

from campaigns import api
from campaigns.models import metadata
from crm_core.settings import Settings
from crm_runtime.service import create_service_app


def create_app(settings: Settings | None = None) -> Flask:
    return create_service_app(settings or Settings.from_env("campaigns"), metadata(), api.register)
