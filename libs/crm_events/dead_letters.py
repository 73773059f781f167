"""Looking at and re-driving dead letters (`python -m <service> dlq list|replay`).

A dead letter is the original record (value, key, headers) on `<topic>.dlq`, plus the headers the
consumer added: error, original_topic, consumer, dead_lettered_at. A replay republishes the original
value, key and headers to the original topic; every consumer group of that topic sees it again,
and the ones that had handled it already skip it (processed_events).

A replay is remembered by a marker record on the same dead-letter topic naming the replayed
letter's partition and offset, published only after the replay was acknowledged. Listing and
replaying skip letters with a marker, so running a replay twice re-drives nothing twice, whatever
filters either run used; the log itself is the ledger, on Kafka and on the embedded log alike.
If the process dies between the replay and its marker, the next run replays the letter again,
which the consumers' dedupe turns into a no-op. A replayed event that fails again becomes a new
dead letter, with its own position.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass

from crm_core.settings import Settings
from crm_events.consumer import DEAD_LETTER_HEADERS
from crm_events.log import EventPublisher, IncomingRecord, OutgoingRecord, PublishError, embedded_log_path

MARKER_HEADER = "dlq_replayed"  # "<partition>:<offset>" of the replayed dead letter


@dataclass(frozen=True)
class DeadLetter:
    record: IncomingRecord
    replayed_at: str | None = None

    @property
    def position(self) -> str:
        return f"{self.record.partition}:{self.record.offset}"

    @property
    def headers(self) -> dict[str, str]:
        return self.record.headers

    @property
    def event_type(self) -> str:
        if t := self.headers.get("event_type"):
            return t
        try:
            return str(json.loads(self.record.value).get("type", ""))
        except (ValueError, AttributeError):
            return ""  # an unreadable envelope

    @property
    def event_id(self) -> str:
        if i := self.headers.get("event_id"):
            return i
        try:
            return str(json.loads(self.record.value).get("id", ""))
        except (ValueError, AttributeError):
            return ""

    @property
    def dead_lettered_at(self) -> dt.datetime | None:
        raw = self.headers.get("dead_lettered_at")
        if raw:
            try:
                return _aware(dt.datetime.fromisoformat(raw))
            except ValueError:
                pass
        if self.record.timestamp is not None:
            return dt.datetime.fromtimestamp(self.record.timestamp, dt.UTC)
        return None

    def original(self) -> OutgoingRecord:
        headers = {k: v for k, v in self.headers.items() if k not in DEAD_LETTER_HEADERS}
        return OutgoingRecord(self.headers["original_topic"], self.record.key or "", self.record.value, headers)

    def marker(self, now: dt.datetime) -> OutgoingRecord:
        headers = {MARKER_HEADER: self.position, "consumer": self.headers.get("consumer", ""),
                   "event_id": self.event_id, "replayed_at": now.isoformat()}
        body = json.dumps({"replayed": self.position, "event_id": self.event_id}).encode()
        return OutgoingRecord(self.record.topic, self.record.key or "", body, headers)

    def as_json(self) -> dict[str, object]:
        at = self.dead_lettered_at
        return {"dlq_topic": self.record.topic, "position": self.position, "event_type": self.event_type,
                "event_id": self.event_id, "consumer": self.headers.get("consumer", ""),
                "original_topic": self.headers.get("original_topic", ""),
                "dead_lettered_at": at.isoformat() if at else None, "error": self.headers.get("error", ""),
                "replayed_at": self.replayed_at}


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def parse_since(raw: str) -> dt.datetime:
    """An ISO 8601 date or date-time; without an offset it is UTC."""
    try:
        return _aware(dt.datetime.fromisoformat(raw.strip()))
    except ValueError as exc:
        raise ValueError(f"--since must be an ISO 8601 date or date-time, got {raw!r}") from exc


def read_topic(settings: Settings, topic: str) -> list[IncomingRecord]:
    if settings.kafka_bootstrap:
        from crm_events.kafka_log import read_topic as read_kafka_topic

        return read_kafka_topic(settings.kafka_bootstrap, topic, prefix=settings.kafka_topic_prefix)
    from crm_events.embedded_log import EmbeddedLog

    return EmbeddedLog(embedded_log_path(settings)).read_topic(topic)


def dead_letters(records: Iterable[IncomingRecord]) -> list[DeadLetter]:
    """The dead letters among one dead-letter topic's records, each with its replay marker if any."""
    records = list(records)
    replayed: dict[str, str] = {}
    for r in records:
        if MARKER_HEADER in r.headers:
            replayed.setdefault(r.headers[MARKER_HEADER], r.headers.get("replayed_at", "?"))
    return [DeadLetter(r, replayed.get(f"{r.partition}:{r.offset}")) for r in records
            if MARKER_HEADER not in r.headers and "original_topic" in r.headers]


def matching(letters: Iterable[DeadLetter], *, consumers: set[str] | None = None, event_type: str | None = None,
           since: dt.datetime | None = None, include_replayed: bool = False) -> list[DeadLetter]:
    out = []
    for letter in letters:
        if letter.replayed_at and not include_replayed:
            continue
        if consumers is not None and letter.headers.get("consumer") not in consumers:
            continue
        if event_type and letter.event_type != event_type:
            continue
        if since is not None:
            at = letter.dead_lettered_at
            if at is None or at < since:
                continue
        out.append(letter)
    return out


def replay(letters: list[DeadLetter], publisher: EventPublisher, batch: int = 100) -> int:
    """Republish each letter's original record, then mark it replayed; returns how many."""
    done = 0
    for start in range(0, len(letters), batch):
        chunk = [letter for letter in letters[start:start + batch] if not letter.replayed_at]
        error: PublishError | None = None
        published = len(chunk)
        try:
            publisher.publish([letter.original() for letter in chunk])
        except PublishError as exc:
            published, error = exc.published, exc
        # Markers only for what was acknowledged, and only after it was.
        if published:
            now = dt.datetime.now(dt.UTC)
            publisher.publish([letter.marker(now) for letter in chunk[:published]])
            done += published
        if error is not None:
            raise error
    return done
