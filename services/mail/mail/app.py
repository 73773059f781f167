"""Composition root of the mail service."""

from __future__ import annotations

from flask import Flask

from crm_core.settings import Settings
from crm_runtime.service import create_service_app
from mail import api
from mail.models import metadata


def create_app(settings: Settings | None = None) -> Flask:
    return create_service_app(settings or Settings.from_env("mail"), metadata(), api.register)
