"""Use cases of the sla area."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crm_core.settings import Settings
from crm_db.database import Database
from crm_runtime.cli import BackgroundLoop, ConsumerSpec

if TYPE_CHECKING:
    from tickets.service.desk import Desk


def install(desk: Desk) -> None:
    """Registers the area's ticket hooks (desk.hooks)."""


def consumers(settings: Settings, db: Database) -> list[ConsumerSpec]:
    """The area's event consumers (run by the worker)."""
    return []


def background(settings: Settings, db: Database) -> list[BackgroundLoop]:
    """The area's background loops (run by the worker)."""
    return []
