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
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, DateTime, Integer, Table, TextClause, bindparam, func, select, text, update

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
