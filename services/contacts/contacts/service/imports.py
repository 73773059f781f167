"""CSV imports, run by the job worker: stream the upload, validate rows, write them in batches.

A batch of BATCH_ROWS records goes through two stages. `check` (CPU-bound): cells converted,
validated with the API's create schema and prepared by the record service (phones, custom fields,
company links, search text); insert rows and their `crm.<aggregate>.created` events built. `write`
(one transaction): the batch's keys (contact email, company domain) looked up with one IN query,
new rows inserted with one executemany and their events with another, duplicates skipped, refused
or updated one by one (rarer). For big files a second process checks batch N+1 while this one
writes batch N.

A batch's counts and failed rows commit with its records, so a worker that takes the job over
after a crash skips the rows already counted. A dry run writes each batch and rolls it back; only
its counts and failed rows are kept.
"""

from __future__ import annotations

import collections
import gc
import itertools
import logging
import multiprocessing
import os
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from marshmallow import Schema, ValidationError
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from contacts.models import Company, Contact, metadata
from contacts.schemas.companies import CompanyCreateSchema, CompanySchema
from contacts.schemas.contacts import ContactCreateSchema, ContactSchema
from contacts.service.common import PartyService
from contacts.service.companies import CompanyService, normalised_domain
from contacts.service.contacts import ContactService
from contacts.service.jobs import JobRun, JobRunner, open_text
from contacts.service.mail_log import adopt
from contacts.service.rows import (
    FieldSpec,
    Record,
    SeenKeys,
    fast_loader,
    field_specs,
    plan_columns,
    read_csv,
    reason,
    row_dumper,
    row_values,
)
from contacts.service.scoring import rescore, rules
from crm_core import context
from crm_core.errors import ProblemError
from crm_core.ids import uuid7s
from crm_db.base import utcnow
from crm_db.bulk import bulk_insert, insert_json_rows, json_rows
from crm_db.database import Database
from crm_events.outbox import Outbox, context_fields
from crm_events.template import OutboxPieces, insert_outbox_pieces
from crm_http.parsing import flatten_errors

log = logging.getLogger(__name__)
BATCH_ROWS = 1000
PARALLEL_MIN_ROWS = 20_000  # below this, starting checker processes costs more than it saves
CHECKER_PROCESSES = min(2, os.cpu_count() or 1)  # the database and this process need cores too
Errors = dict[str, list[str]]
IMPORT_ORIGIN = "import"
FAST_ROWS = True  # rows loaded by rows.fast_loader (tests compare it with the schema path)


@dataclass(frozen=True)
class ObjectKind:
    name: str  # contact | company
    model: type[Contact] | type[Company]
    key: str  # what makes a duplicate: email | domain
    service: PartyService[Any]
    create_schema: Schema
    dump_row: Callable[[dict[str, Any]], dict[str, Any]]

    def key_of(self, values: dict[str, Any]) -> str | None:
        if self.key == "domain" and values.get("domain"):
            values["domain"] = normalised_domain(values["domain"])  # 422 naming domain if it is none
        return values.get(self.key) or None


def object_kind(object_: str, run: JobRun) -> ObjectKind:
    model, key, service, create, out = (
        (Contact, "email", ContactService, ContactCreateSchema(), ContactSchema()) if object_ == "contacts" else
        (Company, "domain", CompanyService, CompanyCreateSchema(), CompanySchema()))
    fast = row_dumper(out)

    def dump_row(row: dict[str, Any]) -> dict[str, Any]:
        if fast is not None:
            return fast(row)
        body = out.dump(model(**row))  # a field row_dumper does not know: the slow, sure way
        body["properties"] = dict(row["properties"])
        return body

    return ObjectKind("contact" if model is Contact else "company", model, key, service(run.outbox, out.dump), create,
                      dump_row)


@dataclass(slots=True)
class Checked:
    record: Record
    key: str | None = None
    failed: Errors | None = None  # unusable whatever happens (validation)
    values: dict[str, Any] | None = None  # as loaded: what an update applies
    row: dict[str, Any] | None = None  # the insert row, if it can be created
    event: dict[str, Any] | None = None  # its outbox row
    create_failed: Errors | None = None  # why it cannot be created (the service's checks)
    id: uuid.UUID | None = None  # the new record's id, if it can be created
    # On PostgreSQL, row and event as the JSON bulk.insert_json_rows and insert_outbox_pieces send (then
    # row and event are None):
    # serialised where they were checked, and cheap to hand from a checker process to the writer.
    row_json: bytes | None = None
    event_json: bytes | None = None

    def wire(self) -> tuple[Any, ...]:
        """What a checker process sends back (plain values pickle fast); the record stays with the writer."""
        return (self.key, self.failed, self.values, self.row, self.event, self.create_failed, self.id, self.row_json,
                self.event_json)

    @classmethod
    def unwire(cls, record: Record, wired: tuple[Any, ...]) -> Checked:
        return cls(record, *wired)


@dataclass
class Outcome:
    rows: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    errors: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    created_keys: list[str] = field(default_factory=list)


class _Rollback(Exception):
    pass


@dataclass
class Importer:
    run: JobRun
    kind: ObjectKind
    header: list[str]
    columns: list[tuple[int, FieldSpec]]
    on_duplicate: str
    dry_run: bool
    seen: SeenKeys | None = None

    def __post_init__(self) -> None:
        table = self.kind.model.__table__
        # Column defaults once, not per row (executemany needs every key in every row).
        self._template = {c.key: (None if c.default is None or c.default.is_callable else c.default.arg) for c in table.columns}
        self._keys = list(self._template)
        stamped = {"tenant_id", "id", "created_at", "updated_at", "version"}
        self._factories = {c.key: c.default.arg for c in table.columns
                           if c.default is not None and c.default.is_callable and c.key not in stamped}
        # The create schema limited to the fields the file maps: the same checks, on fewer fields.
        used = {"address" if s.kind == "address" else "properties" if s.kind == "property" else s.key for _, s in self.columns}
        self._schema = type(self.kind.create_schema)(only=sorted(used))
        self._load = fast_loader(self._schema) if FAST_ROWS else None

    # stage 1: CPU, no writes
    def check(self, batch: list[Record]) -> list[Checked]:
        width, out = len(self.header), []
        now, event_type = utcnow(), f"crm.{self.kind.service.aggregate}.created"
        ids = iter(uuid7s(len(batch)))  # one each, in file order; a failed row leaves its id unused
        with self.run.db.transaction() as session:  # reads definitions, the region, linked companies
            for record in batch:
                out.append(self._check_one(session, record, width, now, ids))
        created = [c for c in out if c.row is not None]
        if created and self.run.db.engine.dialect.name == "postgresql":
            try:  # serialised here, where the CPU is spread over processes; the writer only joins them
                rows = json_rows(self.kind.model.__table__, (c.row for c in created))  # type: ignore[misc]
            except TypeError:  # a value JSON does not carry: this batch goes as dicts
                rows = []
            if rows:
                fields = context_fields()
                events = OutboxPieces(self.run.outbox.service, event_type, str(context.require_tenant()),
                                      fields["request_id"], now.isoformat().replace("+00:00", "Z"), fields["actor_id"],
                                      origin=fields["origin"], causation=fields["causation"])
                for c, row, event_id in zip(created, rows, uuid7s(len(created)), strict=True):
                    c.event_json = events.piece(str(c.id), self.kind.dump_row(c.row), str(event_id))  # type: ignore[arg-type]
                    c.row, c.row_json = None, row
                return out
        dicts = self.run.outbox.event_rows(event_type, ((c.id, self.kind.dump_row(c.row)) for c in created))  # type: ignore[arg-type]
        for c, event in zip(created, dicts, strict=True):
            c.event = event
        return out

    def _check_one(self, session: Session, record: Record, width: int, now: Any, ids: Iterator[uuid.UUID]) -> Checked:
        cells = record[1]
        record_id = next(ids)
        if len(cells) > width and any(c.strip() for c in cells[width:]):
            return Checked(record, failed={"row": [f"Has {len(cells)} cells; the header has {width} columns."]})
        values, errors = row_values(self.columns, cells)
        loaded = self._load(values) if self._load is not None else None
        if loaded is not None:
            values = loaded
        else:  # a row the fast path does not vouch for: the schema decides, and words its errors
            try:
                values = self._schema.load(values)
            except ValidationError as exc:
                errors = {**flatten_errors(exc.messages), **errors}
        if errors:
            return Checked(record, failed=errors)
        try:
            key = self.kind.key_of(values)
        except ProblemError as exc:
            return Checked(record, failed=exc.errors or {"row": [str(exc)]})
        checked = Checked(record, key, values=dict(values) if self.on_duplicate == "update" else None)
        try:
            self.kind.service.prepare(session, values)
        except ProblemError as exc:
            checked.create_failed = exc.errors or {"row": [str(exc)]}
            return checked
        row = dict(self._template)
        row.update({k: make(None) for k, make in self._factories.items()})
        row.update(values)
        row.update(tenant_id=self.run.tenant_id, id=record_id, created_at=now, updated_at=now, version=1)
        checked.row, checked.id = row, row["id"]
        return checked

    # stage 2: one transaction
    def write(self, checked: list[Checked]) -> None:
        for attempt in range(1, 4):
            try:
                self._write_once(checked)
                return
            except IntegrityError:
                # A concurrent writer took a key between our lookup and the insert: look again.
                if attempt == 3:
                    raise
                log.info("import %s: batch conflicted with a concurrent write; retrying", self.run.job_id)

    def _write_once(self, checked: list[Checked]) -> None:
        if not self.dry_run:
            with self.run.db.transaction() as session:
                self._record(session, self._apply(session, checked))
            return
        outcome = Outcome()
        try:
            with self.run.db.transaction() as session:
                outcome = self._apply(session, checked)
                raise _Rollback
        except _Rollback:
            pass
        with self.run.db.transaction() as session:
            self._record(session, outcome)
        assert self.seen is not None
        self.seen.add_all(outcome.created_keys)

    def _record(self, session: Session, outcome: Outcome) -> None:
        job = self.run.job(session, for_update=True)
        job.rows_processed += outcome.rows
        job.created += outcome.created
        job.updated += outcome.updated
        job.skipped += outcome.skipped
        job.failed += len(outcome.errors)
        self.run.add_errors(session, outcome.errors)
        self.run.heartbeat(session)

    def _apply(self, session: Session, checked: list[Checked]) -> Outcome:
        out = Outcome(rows=len(checked))
        if session.get_bind().dialect.name == "postgresql":
            # The engine plans every statement for its parameters (see crm_db.database); the
            # thousands of identical INSERTs of a batch need no such care: plan them once.
            session.execute(text("SELECT set_config('plan_cache_mode', 'auto', true)"))
        column = getattr(self.kind.model, self.kind.key)
        keys = {c.key for c in checked if c.key and not c.failed}
        existing = self._existing(session, column, keys)
        pending: dict[str, uuid.UUID] = {}  # keys of earlier rows of this batch, not inserted yet
        inserts: list[Checked] = []
        for c in checked:
            key = c.key
            if c.failed:
                self._fail(out, c, c.failed)
            elif key and (key in existing or key in pending or (self.seen is not None and key in self.seen)):
                if self.on_duplicate == "skip":
                    out.skipped += 1
                elif self.on_duplicate == "create":
                    where = f"id {existing[key]}" if key in existing else "an earlier row of this file"
                    self._fail(out, c, {self.kind.key: [f"A {self.kind.name} with this {self.kind.key} already exists "
                                                        f"({where}); a row with it cannot create another."]})
                elif key in existing or key in pending:
                    if key in pending:  # the earlier row must exist before this one updates it
                        self._insert_rows(session, inserts, out)
                        existing.update(pending)
                        pending, inserts = {}, []
                    self._update(session, out, c, existing[key])
                else:
                    out.updated += 1  # a dry run: an earlier batch would have created it
            elif c.id is None:
                self._fail(out, c, c.create_failed or {"row": ["Cannot be created."]})
            else:
                inserts.append(c)
                if key:
                    pending[key] = c.id  # type: ignore[assignment]
        self._insert_rows(session, inserts, out)
        return out

    def _existing(self, session: Session, column: Any, keys: set[str]) -> dict[str, uuid.UUID]:
        """key -> id of the records that already have one of `keys`, with one query.

        On PostgreSQL the keys go as an array, each looked up by a LATERAL probe of the unique
        (tenant_id, email|domain) index, whatever the statistics say. `column IN (...1000 values)`
        and a plain join went wrong there: rows an import has just written have no statistics
        until autovacuum analyses them, and meanwhile the planner believed the tenant had a few
        rows and read all of them for every batch (up to seconds per batch at 50,000 rows). The
        tenant is explicit: a text statement is not scoped by the ORM (RLS agrees)."""
        if not keys:
            return {}
        if session.get_bind().dialect.name != "postgresql":
            return dict(session.execute(select(column, self.kind.model.id).where(column.in_(keys))).all())
        table, name = self.kind.model.__tablename__, column.key
        rows = session.execute(text(f"SELECT c.{name}, c.id FROM unnest(CAST(:keys AS text[])) AS k(key) CROSS JOIN LATERAL "
                                    f"(SELECT {name}, id FROM {table} WHERE tenant_id = :tenant AND {name} = k.key LIMIT 1) c"),
                               {"keys": sorted(keys), "tenant": self.run.tenant_id})
        return dict(rows.all())

    def _update(self, session: Session, out: Outcome, c: Checked, record_id: uuid.UUID) -> None:
        try:
            with session.begin_nested():
                self.kind.service.update(session, record_id, dict(c.values or {}))
            out.updated += 1
        except ProblemError as exc:
            self._fail(out, c, exc.errors or {"row": [str(exc)]})

    def _insert_rows(self, session: Session, inserts: list[Checked], out: Outcome) -> None:
        if not inserts:
            return
        table, conn = self.kind.model.__table__, session.connection()
        as_json = [c for c in inserts if c.row_json is not None]
        if as_json:
            insert_json_rows(conn, table, self._keys, [c.row_json for c in as_json])  # type: ignore[misc, arg-type]
            insert_outbox_pieces(conn, self.run.outbox.table, self.run.outbox.service, f"crm.{self.kind.service.aggregate}.created",
                                 self.run.tenant_id, [c.event_json for c in as_json])  # type: ignore[misc]
        as_dicts = [c for c in inserts if c.row_json is None]
        if as_dicts:
            bulk_insert(conn, table, [c.row for c in as_dicts])  # type: ignore[misc, arg-type]
            self.run.outbox.insert_rows(session, [c.event for c in as_dicts])  # type: ignore[misc]
        if self.kind.model is Contact and rules(session):  # as ContactService.create: scored from the start
            rescore(session, self.run.outbox, self.kind.service.serialize, [c.id for c in inserts])  # type: ignore[misc]
        if self.kind.model is Contact:
            # Unmatched logged mail to these emails: one indexed lookup per batch (primary emails;
            # additional emails of imported rows are not looked up).
            adopt(session, self.run.outbox, {c.key: c.id for c in inserts if c.key and c.id})
        out.created += len(inserts)
        out.created_keys += [c.key for c in inserts if c.key]

    def _fail(self, out: Outcome, c: Checked, errors: Errors) -> None:
        number, cells = c.record
        out.errors.append((number, reason(errors), {name: (cells[i] if i < len(cells) else "")
                                                    for i, name in enumerate(self.header) if name}))


def _batches(records: Iterator[Record]) -> Iterator[list[Record]]:
    while batch := list(itertools.islice(records, BATCH_ROWS)):
        yield batch


@dataclass(frozen=True)
class _Plan:
    """What it takes to build the Importer again in a checker process (picklable)."""

    database_url: str
    service: str
    job_id: uuid.UUID
    tenant_id: uuid.UUID
    attempt: int
    object_: str
    header: list[str]
    mapping: dict[str, str | None]
    on_duplicate: str
    dry_run: bool


def _importer(run: JobRun, plan: _Plan) -> tuple[Importer, dict[str, str], list[str]]:
    kind = object_kind(plan.object_, run)
    with run.db.transaction() as session:
        specs = field_specs(session, kind.name)
    columns, mapped, ignored = plan_columns(plan.header, plan.mapping, specs, kind.name)
    return Importer(run, kind, plan.header, columns, plan.on_duplicate, plan.dry_run,
                    SeenKeys() if plan.dry_run else None), mapped, ignored


_CHECKER: Importer | None = None  # in a checker process


def _checker_start(plan: _Plan) -> None:
    global _CHECKER
    runner = JobRunner(Database(plan.database_url, pool_size=1), Outbox(plan.service, metadata()))
    with context.tenant_context(plan.tenant_id):
        _CHECKER = _importer(JobRun(runner, plan.job_id, plan.tenant_id, "import", plan.attempt), plan)[0]
    # What exists now (modules, metadata, the importer) lives as long as this process: the
    # collector need not walk it again at every full collection while the batches churn (about
    # a sixth of a row's checking CPU).
    gc.freeze()


def _checker_context() -> multiprocessing.context.BaseContext:
    """Checkers are forked from a forkserver that has imported this module: starting a Python and
    importing the service costs about a CPU-second per process, paid this way once per worker
    process (the forkserver stays for its later imports) instead of once per checker and import.
    The forkserver is single-threaded, so forking it is safe where forking the worker (threads,
    database connections) is not."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])  # read when the forkserver starts, i.e. once
    return ctx


def _checker_check(batch: list[Record]) -> list[tuple[Any, ...]]:
    assert _CHECKER is not None
    run = _CHECKER.run
    with context.tenant_context(run.tenant_id, f"job-{run.job_id}"), context.origin_context(IMPORT_ORIGIN):
        return [c.wire() for c in _CHECKER.check(batch)]


def _unwired(batch: list[Record], done: Future[list[tuple[Any, ...]]]) -> list[Checked]:
    return [Checked.unwire(record, wired) for record, wired in zip(batch, done.result(), strict=True)]


def _checked_now(importer: Importer, batch: list[Record]) -> Future[list[Checked]]:
    done: Future[list[Checked]] = Future()
    done.set_result(importer.check(batch))
    return done


def run_import(run: JobRun) -> None:
    # Every event the import writes (created and updated records, scores, adopted mail) says
    # origin "import": workflows may exclude them (an import of 50,000 leads starts no run).
    with context.origin_context(IMPORT_ORIGIN):
        _run_import(run)


def _run_import(run: JobRun) -> None:
    with run.db.transaction() as session:
        job = run.job(session, for_update=True)
        params = dict(job.params)
        if params.get("dry_run") and job.rows_processed:
            # A dry run remembers keys in memory only: a takeover starts it again from the top.
            job.rows_processed = job.created = job.updated = job.skipped = job.failed = 0
            run.clear_errors(session)
        done, total, object_ = job.rows_processed, job.rows_total, job.object
    header, records = read_csv(open_text(run.db, run.job_id, "upload"))
    plan = _Plan(run.db.url, run.outbox.service, run.job_id, run.tenant_id, run.attempt, object_, header,
                 params.get("mapping") or {}, params.get("on_duplicate", "skip"), bool(params.get("dry_run")))
    importer, mapped, ignored = _importer(run, plan)
    if total is None:  # a cheap first pass, so progress has a denominator (and a broken file fails early)
        total = sum(1 for _ in read_csv(open_text(run.db, run.job_id, "upload"))[1])
        with run.db.transaction() as session:
            job = run.job(session, for_update=True)
            job.rows_total = total
            job.params = {**params, "columns": header, "columns_mapped": mapped, "ignored_columns": ignored}
            run.heartbeat(session)
    # Checking (validation, normalisation: most of the CPU) runs in other processes for big files,
    # batches ahead of the writes here: a Python process uses one core at most.
    checkers = CHECKER_PROCESSES if total - done >= PARALLEL_MIN_ROWS else 0
    pool = ProcessPoolExecutor(checkers, mp_context=_checker_context(), initializer=_checker_start,
                               initargs=(plan,)) if checkers else None
    # While the batches churn, full collections need not walk what already lived before the job
    # (modules, metadata, caches): about a sixth of a row's checking CPU. Thawed when it ends.
    gc.freeze()
    try:
        ahead: collections.deque[tuple[list[Record], Future[Any]]] = collections.deque()

        def write_next() -> None:  # in file order
            batch, checked = ahead.popleft()
            importer.write(_unwired(batch, checked) if pool else checked.result())

        for batch in _batches(itertools.islice(records, done, None)):
            ahead.append((batch, pool.submit(_checker_check, batch) if pool else _checked_now(importer, batch)))
            if len(ahead) > checkers:
                write_next()
        while ahead:
            write_next()
    finally:
        gc.unfreeze()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
