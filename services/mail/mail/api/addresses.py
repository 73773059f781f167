"""Placeholder: filled in by the addresses work (issue 9)."""

from __future__ import annotations

from flask import Blueprint

from crm_runtime.service import ServiceRuntime


def register(bp: Blueprint, runtime: ServiceRuntime) -> None:
    pass
