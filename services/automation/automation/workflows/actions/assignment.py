"""assign_owner: give the run's record to one of `users`, in turn (round_robin) or to whoever has
the fewest open records of that type (least_loaded), by a PATCH of its owner (a ticket's assignee).

round_robin keeps one row per workflow step (tables.round_robin_table): the user who got the last
record, and the step run that gave it, so a retry of that step run picks the same user again.
least_loaded asks the owning service's list, with the same filter a person would use, and stops
counting a candidate once they have more than the best so far.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import fields, validate
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from automation.models import metadata
from automation.workflows.actions.base import (
    OWNER_FIELD,
    RECORD_TYPES,
    StepSchema,
    call,
    each_type,
    live_id,
    load,
    record_path,
    run_record,
    updated_events,
)
from automation.workflows.client import RECORDS
from automation.workflows.steps import StepContext, StepError, Writes
from automation.workflows.tables import round_robin_table
from crm_core import context
from crm_db.database import Database

METHODS = ("round_robin", "least_loaded")
# What "open" means per record type; contacts and companies are all counted.
OPEN = {"deal": "status = 'open'", "ticket": "status in ('new', 'open', 'pending', 'on_hold')"}
MAX_COUNT_PAGES = 50  # 10,000 records: past that a candidate counts as that busy


class AssignOwnerSchema(StepSchema):
    users = fields.List(fields.UUID(), required=True, validate=validate.Length(min=1, max=100))
    method = fields.String(load_default="round_robin", validate=validate.OneOf(METHODS))


class AssignOwner:
    type = "assign_owner"
    schema = AssignOwnerSchema
    record_types = RECORD_TYPES

    def __init__(self, db: Database | None = None) -> None:
        self.db = db  # automation's database, for round_robin's cursor

    def writes(self, params: Mapping[str, Any], record_type: str | None) -> Writes:
        types = each_type(record_type, RECORD_TYPES)
        return Writes(frozenset().union(*(updated_events(t, {OWNER_FIELD[t]}) for t in types)),
                      fields=frozenset(OWNER_FIELD[t] for t in types))

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> dict[str, Any]:
        record_type, record_id = run_record(ctx, RECORD_TYPES, self.type)
        p = load(self.schema, params)
        users = list(dict.fromkeys(str(u) for u in p["users"]))
        chosen = self._round_robin(ctx, users, advance=True) if p["method"] == "round_robin" \
            else least_loaded(ctx, record_type, record_id, users)
        service, path = record_path(record_type, live_id(ctx.record, record_id))
        field = OWNER_FIELD[record_type]
        call(ctx, service, "PATCH", path, {field: chosen}, what=f"Assign {record_type} {record_id}")
        return {"record_type": record_type, "record_id": record_id, field: chosen, "method": p["method"]}

    def preview(self, ctx: StepContext, params: Mapping[str, Any]) -> dict[str, Any]:
        record_type, record_id = run_record(ctx, RECORD_TYPES, self.type)
        p = load(self.schema, params)
        users = list(dict.fromkeys(str(u) for u in p["users"]))
        chosen = self._round_robin(ctx, users, advance=False) if p["method"] == "round_robin" \
            else least_loaded(ctx, record_type, record_id, users)
        service, path = record_path(record_type, record_id)
        body = {OWNER_FIELD[record_type]: chosen}
        return {"record_type": record_type, "record_id": record_id, **body, "method": p["method"],
                "request": {"service": service, "method": "PATCH", "path": path, "body": body}}

    def _round_robin(self, ctx: StepContext, users: list[str], *, advance: bool) -> str:
        if self.db is None:
            raise StepError("round_robin needs the automation database (the engine passes it to actions())")
        table = round_robin_table(metadata())
        key = (table.c.tenant_id == ctx.tenant_id, table.c.workflow_id == ctx.workflow_id, table.c.step_id == ctx.step_id)
        with context.tenant_context(ctx.tenant_id):
            for attempt in range(2):
                try:
                    with self.db.transaction() as session:
                        row = session.execute(select(table.c.last_user_id, table.c.last_key).where(*key)
                                              .with_for_update()).first()
                        last = str(row.last_user_id) if row is not None else None
                        if row is not None and row.last_key == ctx.idempotency_key and last in users:
                            return last  # this step run chose already: a retry keeps its choice
                        chosen = users[(users.index(last) + 1) % len(users)] if last in users else users[0]
                        if not advance:
                            return chosen
                        values = {"last_user_id": chosen, "last_key": ctx.idempotency_key}
                        if row is None:
                            session.execute(insert(table).values(tenant_id=ctx.tenant_id, workflow_id=ctx.workflow_id,
                                                                 step_id=ctx.step_id, **values))
                        else:
                            session.execute(update(table).where(*key).values(**values))
                        return chosen
                except IntegrityError:  # another run of this step made the row first: read it again
                    if attempt:
                        raise StepError("round_robin: the cursor row kept conflicting", retryable=True) from None
        raise AssertionError("unreachable")


def open_count(ctx: StepContext, record_type: str, user: str, more_than: int | None, besides: str) -> int:
    """How many open records of the type the user holds but `besides` (the one being assigned);
    counting stops past `more_than`."""
    service, path = RECORDS[record_type]
    text = f"{OWNER_FIELD[record_type]} = '{user}' and id != '{besides.replace(chr(39), chr(39) * 2)}'"
    if record_type in OPEN:
        text += f" and ({OPEN[record_type]})"
    count, cursor = 0, None
    for _ in range(MAX_COUNT_PAGES):
        params: dict[str, Any] = {"filter": text, "limit": 200}
        if cursor:
            params["cursor"] = cursor
        resp = call(ctx, service, "GET", path, params=params, what=f"Count the open {record_type}s of {user}")
        body = resp.body if isinstance(resp.body, dict) else {}
        count += len(body.get("data") or [])
        cursor = body.get("next_cursor")
        if not cursor or (more_than is not None and count > more_than):
            break
    return count


def least_loaded(ctx: StepContext, record_type: str, record_id: str, users: list[str]) -> str:
    """The user with the fewest open records of the type; the first listed of those tied."""
    best, best_count = users[0], None
    for user in users:
        count = open_count(ctx, record_type, user, best_count, record_id)
        if best_count is None or count < best_count:
            best, best_count = user, count
        if best_count == 0:
            break
    return best
