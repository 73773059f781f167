"""A fair claim over a non-RLS work queue shared by tenants (webhook deliveries, outgoing mail).

A queue table has `id`, `tenant_id`, `due_at`, a key column naming the work (`delivery_id`,
`message_id`) and optionally a `lane` column (lane 0 is claimed before lane 1). A claim takes every
tenant's oldest due row before any tenant's second one (round-robin by rank within the tenant), so
one tenant's backlog of a million rows costs the others nothing but their turn. Claiming moves the
rows' due time a lease ahead in one short transaction, conditional on their still being due, so
parallel workers never take the same row, and a worker that dies only delays its rows until the
lease ends.

PostgreSQL: the tenants that have queue rows come from a loose index scan (one index probe per
tenant, not a scan of the queue), then each tenant's oldest due rows from the
(lane?, tenant_id, due_at, id) index. SQLite (the embedded default, small queues): a window.
"""

from __future__ import annotations

import collections
import datetime as dt
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    Table,
    TextClause,
    UniqueConstraint,
    Uuid,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from crm_db.timers import BigId

_PG = """
WITH RECURSIVE tenants AS (
    (SELECT tenant_id FROM {table} WHERE {lane} ORDER BY tenant_id LIMIT 1)
    UNION ALL
    SELECT (SELECT q.tenant_id FROM {table} q WHERE {q_lane} q.tenant_id > t.tenant_id ORDER BY q.tenant_id LIMIT 1)
    FROM tenants t WHERE t.tenant_id IS NOT NULL
)
SELECT c.id, c.tenant_id, row_number() OVER (PARTITION BY c.tenant_id ORDER BY c.due_at, c.id) AS rank, c.due_at
FROM tenants t CROSS JOIN LATERAL (
    SELECT q.id, q.tenant_id, q.due_at FROM {table} q
    WHERE {q_lane} q.tenant_id = t.tenant_id AND q.due_at <= :now ORDER BY q.due_at, q.id LIMIT :per
) c
WHERE t.tenant_id IS NOT NULL
ORDER BY rank, c.due_at, c.id
LIMIT :limit
"""

Claimed = tuple[uuid.UUID, uuid.UUID]  # (tenant_id, key: the delivery's or message's id)


def queue_table(name: str, metadata: MetaData, key: str, parent: str) -> Table:
    """A queue of `parent`'s rows: (id, tenant_id, <key>, due_at), one row per item, gone with
    its parent row (composite foreign key), with the indexes the claim reads. Constraint names
    follow `<name>_tenant_<item>_key`, `<name>_<item>_fkey` (item: the key without `_id`)."""
    item = key.removesuffix("_id")
    return Table(
        name, metadata,
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column("tenant_id", Uuid(), nullable=False),
        Column(key, Uuid(), nullable=False),
        Column("due_at", DateTime(timezone=True), nullable=False),
        UniqueConstraint("tenant_id", key, name=f"{name}_tenant_{item}_key"),
        ForeignKeyConstraint(["tenant_id", key], [f"{parent}.tenant_id", f"{parent}.id"],
                             ondelete="CASCADE", name=f"{name}_{item}_fkey"),
        Index(f"{name}_due_idx", "due_at", "id"),
        Index(f"{name}_tenant_due_idx", "tenant_id", "due_at", "id"),  # the fair claim: each tenant's oldest due rows
    )


class TenantSlots:
    """A worker's items in flight per tenant (at most `per_tenant` each, `total` in all): what is
    left is the `room` a FairQueue claim respects, so one tenant's backlog or slow work never takes
    the slots the others need. `freed` is set whenever an item ends (a slot may be free again)."""

    def __init__(self, total: int, per_tenant: int) -> None:
        self.total, self.per_tenant = max(1, total), max(1, per_tenant)
        self._lock = threading.Lock()
        self._inflight: collections.Counter[uuid.UUID] = collections.Counter()
        self.freed = threading.Event()

    def free(self) -> tuple[int, dict[uuid.UUID, int]]:
        """(slots free in all, room left per tenant that has items in flight)."""
        with self._lock:
            return (self.total - sum(self._inflight.values()),
                    {t: self.per_tenant - n for t, n in self._inflight.items()})

    def take(self, tenant_id: uuid.UUID) -> None:
        with self._lock:
            self._inflight[tenant_id] += 1

    def release(self, tenant_id: uuid.UUID) -> None:
        with self._lock:
            self._inflight[tenant_id] -= 1
            if self._inflight[tenant_id] <= 0:
                del self._inflight[tenant_id]
        self.freed.set()


@dataclass
class FairQueue:
    table: Table
    key: str  # the column naming the work item
    lane_column: str | None = None
    _pg: dict[int | None, TextClause] = field(default_factory=dict, init=False, repr=False)

    def _pg_statement(self, lane: int | None) -> TextClause:
        stmt = self._pg.get(lane)
        if stmt is None:
            # Identifiers come from the Table (code), the lane is an int: nothing from outside.
            cond = f"{self.lane_column} = {int(lane)}" if lane is not None and self.lane_column else ""
            stmt = text(_PG.format(table=self.table.name, lane=cond or "TRUE",
                                   q_lane=f"q.{cond} AND" if cond else "")).bindparams(
                bindparam("now", type_=DateTime(timezone=True)), bindparam("per", type_=Integer),
                bindparam("limit", type_=Integer))
            self._pg[lane] = stmt
        return stmt

    def _candidates(self, conn: Connection, now: dt.datetime, limit: int, per: int, lane: int | None) -> list[Any]:
        if conn.dialect.name == "postgresql":
            return list(conn.execute(self._pg_statement(lane), {"now": now, "per": per, "limit": limit}).all())
        q = self.table
        where = [q.c.due_at <= now]
        if lane is not None and self.lane_column:
            where.append(q.c[self.lane_column] == lane)
        ranked = select(q.c.id, q.c.tenant_id,
                        func.row_number().over(partition_by=q.c.tenant_id, order_by=(q.c.due_at, q.c.id)).label("rank"),
                        q.c.due_at).where(*where).subquery()
        return list(conn.execute(select(ranked).where(ranked.c.rank <= per)
                                 .order_by(ranked.c.rank, ranked.c.due_at, ranked.c.id).limit(limit)).all())

    def set_due(self, session: Session, tenant_id: uuid.UUID, item: uuid.UUID, due_at: dt.datetime) -> None:
        """Queue the item at `due_at` (one row per item: moved if it is queued already)."""
        q = self.table
        where = (q.c.tenant_id == tenant_id, q.c[self.key] == item)
        if session.execute(update(q).where(*where).values(due_at=due_at)).rowcount == 0:  # type: ignore[attr-defined]
            session.execute(insert(q).values({"tenant_id": tenant_id, self.key: item, "due_at": due_at}))

    def remove(self, session: Session, tenant_id: uuid.UUID, item: uuid.UUID) -> None:
        q = self.table
        session.execute(delete(q).where(q.c.tenant_id == tenant_id, q.c[self.key] == item))

    def claim(self, conn: Connection, now: dt.datetime, limit: int, *, per: int, lease: dt.timedelta,
              room: Mapping[uuid.UUID, int] | None = None, lane: int | None = None) -> list[Claimed]:
        """Lease up to `limit` due rows (of `lane`, if given): every tenant's oldest first, at most
        `per` of one tenant, none beyond `room[tenant]` for a tenant that has less room left.
        Runs on `conn`'s transaction (the caller commits: keep it short)."""
        if limit <= 0:
            return []
        room = room or {}
        # Enough candidates to fill `limit` after skipping what the tenants short of room cannot take.
        fetch = limit + sum(per - max(0, min(n, per)) for n in room.values())
        rows = self._candidates(conn, now, fetch, per, lane)
        taken: collections.Counter[uuid.UUID] = collections.Counter()
        picked = []
        for row in rows:
            if taken[row.tenant_id] >= room.get(row.tenant_id, per):
                continue
            taken[row.tenant_id] += 1
            picked.append(row.id)
            if len(picked) == limit:
                break
        if not picked:
            return []
        q = self.table
        # Conditional on still being due: a row another worker leased meanwhile is not taken twice.
        leased = conn.execute(update(q).where(q.c.id.in_(picked), q.c.due_at <= now)
                              .values(due_at=now + lease).returning(q.c.id, q.c.tenant_id, q.c[self.key])).all()
        order = {rid: i for i, rid in enumerate(picked)}  # RETURNING's order is not the claim's
        return [(r.tenant_id, r[2]) for r in sorted(leased, key=lambda r: order[r.id])]
