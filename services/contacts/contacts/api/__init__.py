"""Contacts service routes, one module per aggregate; thin: parse, call the use case, answer."""

from __future__ import annotations

from flask import Blueprint

from contacts.api import companies, contacts, properties, settings
from crm_runtime.service import ServiceRuntime


def register(bp: Blueprint, runtime: ServiceRuntime) -> None:
    for module in (contacts, companies, properties, settings):
        module.register(bp, runtime)
