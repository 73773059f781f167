"""Routes of the conversations area."""

from __future__ import annotations

from flask import Blueprint

from crm_runtime.service import ServiceRuntime
from tickets.service.desk import Desk


def register(bp: Blueprint, runtime: ServiceRuntime, desk: Desk) -> None:
    """Adds the area's routes."""
