"""CSV exports, run by the job worker: keyset-ordered batches (by id) written as chunks of the file.

Columns are `id` and the requested fields (default: every built-in field, then the active custom
fields, then the derived ones). Lists are joined with ";", money is "12.50 EUR", the address is
spelled out as address.street, address.city, ... (the same keys an import maps, so an exported
file imports back). Cells that a spreadsheet would run as a formula (starting with =, +, -, @, tab
or carriage return) get a leading ' - a phone "+4930..." is exported as "'+4930..."; imports drop
that quote again.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from contacts.models import Company, Contact
from contacts.service.fields import company_fields, contact_fields
from contacts.service.jobs import CHUNK_BYTES, RESTART, JobRun, delete_chunks, write_chunk
from contacts.service.rows import OBJECTS, FieldSpec, cell, export_value, field_specs, neutralise, resolve_key
from contacts.service.search import search_condition
from crm_core import context
from crm_core.errors import validation_error
from crm_query import compile_filter

BATCH_ROWS = 1000


def _model(object_: str) -> type[Contact] | type[Company]:
    return Contact if object_ == "contacts" else Company


def export_columns(session: Session, object_: str, requested: list[str] | None) -> list[FieldSpec]:
    """The fields to write after `id`; 422 naming `properties` for one that does not exist."""
    specs = field_specs(session, OBJECTS[object_], with_derived=True)
    if not requested:
        ordered = [s for s in specs.values() if s.kind != "derived"] + [s for s in specs.values() if s.kind == "derived"]
        return ordered
    columns: list[FieldSpec] = []
    unknown: list[str] = []
    for key in requested:
        if key == "id":
            continue
        if key == "address" and "address.street" in specs:
            columns += [s for s in specs.values() if s.kind == "address"]
            continue
        spec = resolve_key(specs, key)
        if spec is None:
            unknown.append(key)
        elif spec not in columns:
            columns.append(spec)
    if unknown:
        raise validation_error({"properties": [f"Unknown field {k!r}." for k in unknown]})
    return columns


def filter_clause(session: Session, object_: str, text: str | None, q: str | None = None) -> Any:
    """The export's WHERE clause (None without a filter or search); 400 naming the problem."""
    registry = contact_fields(session) if object_ == "contacts" else company_fields(session)
    where = compile_filter(text, registry, session.get_bind().dialect.name)
    if q:
        column = Contact.search_text if object_ == "contacts" else Company.search_text
        matched = search_condition(column, q)
        where = matched if where is None else and_(where, matched)
    return where


class _Restart(Exception):
    """An erasure happened while the file was being written: write it again without the person."""


def run_export(run: JobRun) -> None:
    while True:
        try:
            _export(run)
            return
        except _Restart:
            pass


def _export(run: JobRun) -> None:
    with run.db.transaction() as session:
        job = run.job(session, for_update=True)
        job.params = {k: v for k, v in job.params.items() if k != RESTART}
        object_, params = job.object, dict(job.params)
        model = _model(object_)
        columns = export_columns(session, object_, params.get("properties"))
        where = filter_clause(session, object_, params.get("filter"), params.get("q"))
        # A takeover after a crash starts the file again: cheap, and never half of two files.
        delete_chunks(session, run.job_id, "output")
        count = select(func.count()).select_from(model).where(model.tenant_id == context.require_tenant())
        job.rows_total = session.execute(count if where is None else count.where(where)).scalar_one()
        job.rows_processed = 0
        run.heartbeat(session)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["id", *(s.key for s in columns)])
    last_id, seq, done = None, 0, False
    while not done:
        with run.db.transaction() as session:
            stmt = select(model).order_by(model.id).limit(BATCH_ROWS)
            if where is not None:
                stmt = stmt.where(where)
            if last_id is not None:
                stmt = stmt.where(model.id > last_id)
            records = session.scalars(stmt).all()
            for record in records:
                writer.writerow([str(record.id), *(neutralise(cell(export_value(record, s))) for s in columns)])
            done = len(records) < BATCH_ROWS
            if buffer.tell() >= CHUNK_BYTES or done:
                write_chunk(session, run.job_id, "output", seq, buffer.getvalue().encode("utf-8"))
                seq += 1
                buffer.seek(0)
                buffer.truncate()
            job = run.job(session, for_update=True)  # waits for an erasure that holds it
            if job.params.get(RESTART):
                raise _Restart  # this batch (and chunk) rolls back; rows read before the erasure go too
            job.rows_processed += len(records)
            run.heartbeat(session)
            session.expunge_all()  # keep memory flat across batches
        if records:
            last_id = records[-1].id
