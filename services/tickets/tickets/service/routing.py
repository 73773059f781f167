"""Use cases of the routing area."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

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


def team_lead(session: Session, team_id: uuid.UUID | None) -> uuid.UUID | None:
    """The lead of the team (a user id), or None: whom an SLA breach or warning also concerns."""
    return None
