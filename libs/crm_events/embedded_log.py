"""Embedded engine for the event log: one SQLite file shared by the processes of one machine.

It keeps Kafka's contract where the platform relies on it: per-topic order, consumer groups with
committed positions, at-least-once delivery. One consumer process per group (no partition
balancing): the embedded default runs one of each.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

from crm_events.log import IncomingRecord, OutgoingRecord, PublishError

SCHEMA = """
create table if not exists records (
  offset integer primary key autoincrement,
  topic text not null, key text, value blob not null, headers text not null, ts real not null
);
create index if not exists records_topic on records (topic, offset);
create table if not exists positions (
  grp text not null, topic text not null, offset integer not null, primary key (grp, topic)
);
"""


class EmbeddedLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("pragma journal_mode=wal")
        conn.execute("pragma busy_timeout=30000")
        return conn

    def read_topic(self, topic: str) -> list[IncomingRecord]:
        """Every record of `topic`, oldest first."""
        conn = self._connect()
        try:
            rows = conn.execute(
                "select offset, key, value, headers, ts from records where topic = ? order by offset", (topic,)
            ).fetchall()
        finally:
            conn.close()
        return [IncomingRecord(topic, 0, offset, key, bytes(value), json.loads(headers), ts)
                for offset, key, value, headers, ts in rows]

    def publisher(self) -> EmbeddedPublisher:
        return EmbeddedPublisher(self._connect())

    def subscriber(self, group: str, topics: list[str]) -> EmbeddedSubscriber:
        return EmbeddedSubscriber(self._connect(), group, topics)


class EmbeddedPublisher:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.lock = threading.Lock()

    def publish(self, records: list[OutgoingRecord]) -> None:
        now = time.time()
        try:
            with self.lock:
                self.conn.execute("begin immediate")
                self.conn.executemany(
                    "insert into records (topic, key, value, headers, ts) values (?, ?, ?, ?, ?)",
                    [(r.topic, r.key, r.value, json.dumps(r.headers), now) for r in records],
                )
                self.conn.execute("commit")
        except sqlite3.Error as exc:
            if self.conn.in_transaction:
                self.conn.execute("rollback")
            raise PublishError(0, exc) from exc

    def close(self) -> None:
        self.conn.close()


class EmbeddedSubscriber:
    def __init__(self, conn: sqlite3.Connection, group: str, topics: list[str]) -> None:
        self.conn = conn
        self.group = group
        self.topics = topics
        self.positions: dict[str, int] = dict.fromkeys(topics, 0)
        for topic, offset in conn.execute(
            f"select topic, offset from positions where grp = ? and topic in ({','.join('?' * len(topics))})",
            [group, *topics],
        ):
            self.positions[topic] = offset

    def poll(self, timeout: float, max_records: int = 200) -> list[IncomingRecord]:
        deadline = time.monotonic() + timeout
        while True:
            where = " or ".join("(topic = ? and offset > ?)" for _ in self.topics)
            params: list[object] = []
            for topic in self.topics:
                params += [topic, self.positions[topic]]
            rows = self.conn.execute(
                f"select topic, offset, key, value, headers, ts from records where {where} order by offset limit ?",
                [*params, max_records],
            ).fetchall()
            if rows or time.monotonic() >= deadline:
                break
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        out = []
        for topic, offset, key, value, headers, ts in rows:
            out.append(IncomingRecord(topic, 0, offset, key, bytes(value), json.loads(headers), ts))
            self.positions[topic] = offset
        return out

    def commit(self) -> None:
        self.conn.executemany(
            "insert into positions (grp, topic, offset) values (?, ?, ?) "
            "on conflict (grp, topic) do update set offset = excluded.offset",
            [(self.group, t, o) for t, o in self.positions.items()],
        )

    def rewind(self, unhandled: list[IncomingRecord]) -> None:
        for r in unhandled:
            # positions hold the last offset handed out; poll() reads strictly after it.
            self.positions[r.topic] = min(self.positions[r.topic], r.offset - 1)

    def lag(self) -> dict[str, int]:
        return {
            topic: self.conn.execute(
                "select count(*) from records where topic = ? and offset > ?", (topic, offset)
            ).fetchone()[0]
            for topic, offset in self.positions.items()
        }

    def close(self) -> None:
        self.conn.close()
