"""Contacts service routes, one module per aggregate; thin: parse, call the use case, answer."""

from __future__ import annotations

from flask import Blueprint

from contacts.api import (
    activities,
    batch,
    companies,
    contacts,
    jobs,
    logged_emails,
    merge,
    privacy,
    properties,
    saved_views,
    scoring,
    settings,
)
from crm_runtime.service import ServiceRuntime


def register(bp: Blueprint, runtime: ServiceRuntime) -> None:
    for module in (contacts, companies, activities, merge, properties, scoring, settings, batch, jobs, privacy,
                   logged_emails, saved_views):
        module.register(bp, runtime)
