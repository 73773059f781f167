"""Sales targets: an owner's quota for a month or a quarter, one per owner and period.

Events crm.sales_target.created / updated / deleted. A second target for the same owner and period
is a 409 naming the existing one (the unique key settles a race the same way).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.errors import Conflict, validation_error
from crm_events.records import RecordService
from pipeline.models.forecast import SalesTarget
from pipeline.periods import Period, parse_label


class SalesTargetService(RecordService[SalesTarget]):
    model = SalesTarget
    aggregate = "sales_target"

    def fast_create(self, session: Session) -> bool:
        return False  # insert at flush, inside the request: a lost race is a 409 there

    def _unique(self, session: Session, owner_id: uuid.UUID, period: str, start: dt.date,
                exclude: uuid.UUID | None) -> None:
        stmt = select(SalesTarget.id).where(SalesTarget.owner_id == owner_id, SalesTarget.period == period,
                                            SalesTarget.period_start == start)
        if exclude is not None:
            stmt = stmt.where(SalesTarget.id != exclude)
        existing = session.scalars(stmt).first()
        if existing is not None:
            label = Period.of(period, start).label
            raise Conflict(f"Owner {owner_id} already has a {period} target for {label}: {existing}.",
                           existing_id=str(existing), errors={"period_start": ["Already has a target."]})

    def before_create(self, session: Session, values: dict[str, Any]) -> None:
        self._unique(session, values["owner_id"], values["period"], values["period_start"], None)

    def before_update(self, session: Session, record: SalesTarget, values: dict[str, Any]) -> None:
        period = values.get("period", record.period)
        if "period_start" in values:
            try:
                values["period_start"] = parse_label(period, values["period_start"]).start
            except ValueError as exc:
                raise validation_error({"period_start": [str(exc)]}) from None
        elif Period.of(period, record.period_start).start != record.period_start:
            raise validation_error({"period_start": [f"Give the {period} this target is for."]})
        self._unique(session, values.get("owner_id", record.owner_id), period,
                     values.get("period_start", record.period_start), record.id)
