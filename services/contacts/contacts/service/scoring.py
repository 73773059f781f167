"""Lead scoring: rules written in the filter language add points to the contacts they match.

A rule may decay: its points fade linearly to 0 over `decay_days` days since the contact was
last contacted (or created, if never). Scores are recomputed when a contact changes (its own
update, an activity that moves last_contacted_at, a merge) and, in the background with
progress, for every contact of the tenant when the rules change.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import bindparam, case, func, literal, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from contacts.models import Contact, Job, ScoringRule
from contacts.schemas.contacts import ContactSchema
from contacts.service.fields import contact_fields
from contacts.service.jobs import JobRun, create_job, schedule
from crm_core import context
from crm_core.errors import ProblemError, validation_error
from crm_db.base import utcnow
from crm_db.tenancy import Prefetch
from crm_events.outbox import Outbox
from crm_events.records import RecordService
from crm_query.compile import compile_filter

_CACHE = "crm_scoring_rules"
BATCH = 500
BATCH_TRIES = 5
DECAY = "rescore_decay"  # housekeeping task: rescore tenants with decaying rules (service/housekeeping.py)


class PrefetchedRule(NamedTuple):
    """A rule as rescoring reads it, read with a write's BEGIN (prefetch_rules)."""

    id: uuid.UUID
    filter: str
    points: int
    decay_days: int | None


_RULES_SQL = select(ScoringRule.__table__.c.id, ScoringRule.__table__.c.filter, ScoringRule.__table__.c.points,
                    ScoringRule.__table__.c.decay_days).where(ScoringRule.__table__.c.tenant_id == bindparam("t")).order_by(
    ScoringRule.__table__.c.created_at, ScoringRule.__table__.c.id)


def prefetch_rules() -> Prefetch:
    """rules()'s read, to send with a write's BEGIN (crm_db.tenancy.Prefetch)."""
    def store(session: Session, rows: Sequence[Any]) -> None:
        session.info.setdefault(_CACHE, [PrefetchedRule(*row) for row in rows])

    return Prefetch(_RULES_SQL, {"t": context.require_tenant()}, store)


def rules(session: Session) -> list[ScoringRule] | list[PrefetchedRule]:
    if _CACHE not in session.info:
        session.info[_CACHE] = list(session.scalars(select(ScoringRule).order_by(ScoringRule.created_at, ScoringRule.id)))
    return session.info[_CACHE]


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def check_filter(session: Session, text: str) -> None:
    """A rule's filter must compile against the tenant's fields today (422 naming `filter`)."""
    try:
        compile_filter(text, contact_fields(session), _dialect(session))
    except ProblemError as exc:
        messages = (exc.errors or {}).get("filter") or [exc.detail or "Invalid filter."]
        raise validation_error({"filter": messages}) from exc


def _matches(session: Session, found: Sequence[ScoringRule | PrefetchedRule], ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[bool]]:
    """Which rules match each contact, in one query (each rule a CASE column)."""
    registry, dialect = contact_fields(session), _dialect(session)
    columns = []
    for rule in found:
        try:
            condition = compile_filter(rule.filter, registry, dialect)
        except ProblemError:
            condition = None  # a rule naming an archived field matches nothing until fixed
        columns.append(case((condition, literal(1)), else_=literal(0)) if condition is not None else literal(0))
    rows = session.execute(select(Contact.id, *columns).where(Contact.id.in_(list(ids))))
    return {row[0]: [bool(v) for v in row[1:]] for row in rows}


def _decayed(rule: ScoringRule | PrefetchedRule, since: dt.datetime | None, now: dt.datetime) -> float:
    if not rule.decay_days or since is None:
        return float(rule.points)
    since = since if since.tzinfo else since.replace(tzinfo=dt.UTC)
    days = max((now - since).total_seconds() / 86400, 0.0)
    return rule.points * max(0.0, 1.0 - days / rule.decay_days)


def rescore(session: Session, outbox: Outbox, serialize: Callable[[Contact], dict[str, Any]],
            ids: Sequence[uuid.UUID], *, skip_locked: bool = False) -> int:
    """Recompute lead_score for these contacts; each one that changes emits crm.contact.updated.
    With `skip_locked` (the tenant-wide job, on PostgreSQL) the rows are locked as they are read
    and rows an edit holds right now are left out: that edit rescores them itself."""
    found = rules(session)
    if not ids:
        return 0
    stmt = select(Contact).where(Contact.id.in_(list(ids)))
    if skip_locked and _dialect(session) == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    contacts = {c.id: c for c in session.scalars(stmt)}
    matched = _matches(session, found, list(contacts)) if found else {}
    now, changed = utcnow(), 0
    for contact_id, contact in contacts.items():
        flags = matched.get(contact_id, [])
        since = contact.last_contacted_at or contact.created_at
        score = round(sum(_decayed(rule, since, now) for rule, hit in zip(found, flags, strict=False) if hit))
        if score == contact.lead_score:
            continue
        old = contact.lead_score
        contact.lead_score = score
        session.flush()
        outbox.emit(session, "crm.contact.updated", contact.id, serialize(contact), changes={"lead_score": [old, score]})
        changed += 1
    return changed


def rescore_all(session_factory: Callable[[], Any], outbox: Outbox, serialize: Callable[[Contact], dict[str, Any]],
                progress: Callable[[int, int], None]) -> int:
    """Every contact of the tenant in context, in id order, one transaction per batch."""
    with session_factory() as session:
        total = session.scalar(select(func.count()).select_from(Contact)) or 0
    done, changed, after = 0, 0, None
    while True:
        with session_factory() as session:
            stmt = select(Contact.id).order_by(Contact.id).limit(BATCH)
            if after is not None:
                stmt = stmt.where(Contact.id > after)
            ids = list(session.scalars(stmt))
        if not ids:
            break
        changed += _rescore_batch(session_factory, outbox, serialize, ids)
        done += len(ids)
        after = ids[-1]
        progress(done, total)
    return changed


def _rescore_batch(session_factory: Callable[[], Any], outbox: Outbox, serialize: Callable[[Contact], dict[str, Any]],
                   ids: list[uuid.UUID]) -> int:
    """One batch in its own transaction, again from a fresh read if a contact changed under it (the
    version check of the ORM raises StaleDataError): a concurrent edit must not fail the job."""
    for attempt in range(1, BATCH_TRIES + 1):
        try:
            with session_factory() as session:
                return rescore(session, outbox, serialize, ids, skip_locked=True)
        except StaleDataError:
            if attempt == BATCH_TRIES:
                raise
    return 0


def queue_rescore(session: Session, outbox: Outbox) -> None:
    """Rescore every contact in the background, unless a rescoring is already waiting to start
    (one that is running may have passed contacts under the old rules, so it doesn't count)."""
    waiting = session.scalars(select(Job.id).where(Job.kind == "rescore", Job.status == "queued")).first()
    if waiting is None:
        create_job(session, outbox, "rescore", "contacts", {})


def run_rescore(run: JobRun) -> None:
    """The job worker's handler for kind "rescore"."""
    serialize = ContactSchema().dump

    def progress(done: int, total: int) -> None:
        with run.db.transaction() as session:
            job = run.job(session, for_update=True)
            job.rows_total, job.rows_processed = total, done
            run.heartbeat(session)

    changed = rescore_all(run.db.transaction, run.outbox, serialize, progress)
    with run.db.transaction() as session:
        run.job(session, for_update=True).updated = changed


class ScoringRuleService(RecordService[ScoringRule]):
    """Rules; every change queues a rescoring of all contacts."""

    model = ScoringRule
    aggregate = "scoring_rule"

    def create(self, session: Session, values: dict[str, Any]) -> ScoringRule:
        record = super().create(session, values)
        queue_rescore(session, self.outbox)
        self._decay(session, record)
        return record

    def after_update(self, session: Session, record: ScoringRule, changes: dict[str, list[Any]]) -> None:
        if {"filter", "points", "decay_days"} & set(changes):
            queue_rescore(session, self.outbox)
        self._decay(session, record)

    def _decay(self, session: Session, record: ScoringRule) -> None:
        """A decaying rule changes scores as days pass: the worker rescores the tenant periodically."""
        if record.decay_days:
            schedule(session, DECAY, utcnow() + dt.timedelta(days=1))

    def delete(self, session: Session, record_id: uuid.UUID, expected_version: int | None = None) -> None:
        super().delete(session, record_id, expected_version)
        queue_rescore(session, self.outbox)

    def before_create(self, session: Session, values: dict[str, Any]) -> None:
        check_filter(session, values["filter"])
        session.info.pop(_CACHE, None)

    def before_update(self, session: Session, record: ScoringRule, values: dict[str, Any]) -> None:
        if "filter" in values:
            check_filter(session, values["filter"])
        session.info.pop(_CACHE, None)

    def before_delete(self, session: Session, record: ScoringRule) -> None:
        session.info.pop(_CACHE, None)
