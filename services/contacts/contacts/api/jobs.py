"""/v1/imports and /v1/exports: queue a job, watch it, fetch its errors or its file (streamed)."""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy import and_, or_, select

from contacts.models import Job, JobError
from contacts.schemas.jobs import ExportCreateSchema, ExportJobSchema, ImportFormSchema, ImportJobSchema, dump_job
from contacts.service.exports import export_columns, filter_clause
from contacts.service.jobs import create_job, file_size, find_job, read_chunks, write_chunks
from contacts.service.rows import OBJECTS, field_specs, neutralise, resolve_key
from crm_core import context
from crm_core.errors import Conflict, Gone, validation_error
from crm_core.ids import uuid7
from crm_http.auth import require_scope
from crm_http.idempotency import idempotent
from crm_http.pagination import DEFAULT_LIMIT, MAX_LIMIT, paginate, parse_sort
from crm_http.parsing import load, parse_uuid, query_int
from crm_http.resource import LIST_PARAMS, json_response
from crm_runtime.service import ServiceRuntime

DEFAULT_IMPORT_MAX_BYTES = 2 * 1024**3
ID_PARAM = [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}]
IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}}
UPLOAD_DOC = {"multipart/form-data": {"schema": {"type": "object", "required": ["file", "object"], "properties": {
    "file": {"type": "string", "format": "binary", "description": "CSV, UTF-8 (a BOM is fine); `,` `;` or tab separated; "
                                                                   "the first row names the columns"},
    "object": {"type": "string", "enum": ["contacts", "companies"]},
    "mapping": {"type": "string", "description": 'JSON object CSV column -> field key, e.g. {"E-Mail": "email", "Notes": null}; '
                                                 "columns it leaves out map themselves when their header equals a field key "
                                                 "(case-insensitive, spaces as _)"},
    "on_duplicate": {"type": "string", "enum": ["skip", "update", "create"], "default": "skip"},
    "dry_run": {"type": "boolean", "default": False}}}}}
CSV = {"text/csv": {"schema": {"type": "string"}}}


def _upload() -> tuple[dict[str, Any], Any]:
    """The validated form fields and the file part (Werkzeug spools big parts to disk)."""
    file = request.files.get("file")
    form = load(ImportFormSchema(), {k: request.form[k] for k in request.form})
    if file is None:
        raise validation_error({"file": ["Required: the CSV file as a multipart/form-data part named file."]})
    return form, file
# A 2 GiB upload over a slow link takes far longer than the default lease: a live upload must
# keep its Idempotency-Key claim until it has answered.
UPLOAD_LEASE_SECONDS = 6 * 3600


def _upload_fingerprint() -> str:
    """Idempotency-Key hash of an upload: form fields and file content, read in chunks."""
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    for key in sorted(request.form):
        digest.update(f"{key}={request.form[key]}\n".encode())
    file = request.files.get("file")
    if file is not None:
        while chunk := file.stream.read(1024 * 1024):
            digest.update(chunk)
        file.stream.seek(0)
    return digest.hexdigest()


def _large_body(limit: Callable[[], int]) -> Callable[..., Any]:
    """This route only: a body up to `limit` bytes instead of the app's 1 MiB (413 above)."""
    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            request.max_content_length = limit()
            return view(*args, **kwargs)
        return wrapper
    return decorator


def _csv_line(cells: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(cells)
    return out.getvalue().encode("utf-8")


def register(bp: Blueprint, runtime: ServiceRuntime) -> None:
    db = runtime.db
    idem = functools.partial(idempotent, lambda: runtime.db, lambda: runtime.idempotency)

    def import_limit() -> int:
        return int(runtime.settings.get("CRM_IMPORT_MAX_BYTES", str(DEFAULT_IMPORT_MAX_BYTES)) or DEFAULT_IMPORT_MAX_BYTES)

    def create_import() -> Response:
        require_scope("contacts:write")
        form, file = _upload()
        job_id = uuid7()
        with db.transaction() as session:
            specs = field_specs(session, OBJECTS[form["object"]])
            unknown = {f"mapping.{column}": [f"Unknown {OBJECTS[form['object']]} field {key!r}."]
                       for column, key in form["mapping"].items() if key and resolve_key(specs, key) is None}
            if unknown:
                raise validation_error(unknown)
            _, size = write_chunks(session, job_id, "upload", file.stream)
            if size == 0:
                raise validation_error({"file": ["The file is empty."]})
            params = {"mapping": form["mapping"], "on_duplicate": form["on_duplicate"], "dry_run": form["dry_run"],
                      "filename": (file.filename or "")[:255], "bytes": size}
            body = dump_job(create_job(session, runtime.outbox, "import", form["object"], params, job_id=job_id))
        return json_response(body, 202, {"Location": f"/v1/imports/{job_id}"})

    def create_export() -> Response:
        require_scope("contacts:write")
        values = load(ExportCreateSchema())
        with db.transaction() as session:
            columns = export_columns(session, values["object"], values.get("properties"))
            filter_clause(session, values["object"], values.get("filter"))  # 400 now, not a failed job later
            params = {"filter": values.get("filter"), "q": (values.get("q") or "").strip() or None,
                      "properties": ["id", *(c.key for c in columns)]}
            body = dump_job(create_job(session, runtime.outbox, "export", values["object"], params))
        return json_response(body, 202, {"Location": f"/v1/exports/{body['id']}"})

    def listing(kind: str) -> Response:
        require_scope("contacts:read")
        limit = query_int("limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
        keys = parse_sort(request.args.get("sort"), {"created_at": Job.created_at, "id": Job.id}, "-created_at", Job.id)
        with db.transaction() as session:
            rows, next_cursor = paginate(session, select(Job).where(Job.kind == kind), keys, limit, request.args.get("cursor"))
            return json_response({"data": [dump_job(j) for j in rows], "next_cursor": next_cursor})

    def read(kind: str, job_id: str) -> Response:
        require_scope("contacts:read")
        with db.transaction() as session:
            return json_response(dump_job(find_job(session, kind, parse_uuid(job_id, kind))))

    def import_errors(job_id: str) -> Response:
        """The failed rows as CSV: row, reason, then the row's cells under the file's own header."""
        require_scope("contacts:read")
        jid, tenant = parse_uuid(job_id, "import"), context.require_tenant()
        with db.transaction() as session:
            columns = [c for c in (find_job(session, "import", jid).params.get("columns") or []) if c]

        def rows() -> Iterator[bytes]:
            yield _csv_line(["row", "reason", *(neutralise(c) for c in columns)])  # headers are cells too
            after: tuple[int, uuid.UUID] | None = None
            while True:
                with context.tenant_context(tenant), db.transaction() as session:
                    stmt = select(JobError.row_number, JobError.id, JobError.reason, JobError.row).where(
                        JobError.job_id == jid).order_by(JobError.row_number, JobError.id).limit(1000)
                    if after is not None:
                        stmt = stmt.where(or_(JobError.row_number > after[0],
                                              and_(JobError.row_number == after[0], JobError.id > after[1])))
                    batch = session.execute(stmt).all()
                if not batch:
                    return
                out = io.StringIO()
                writer = csv.writer(out, lineterminator="\r\n")
                for number, _, why, row in batch:
                    writer.writerow([str(number), neutralise(why), *(neutralise(str(row.get(c, ""))) for c in columns)])
                yield out.getvalue().encode("utf-8")
                after = (batch[-1][0], batch[-1][1])

        return Response(rows(), mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="import-{jid}-errors.csv"'})

    def export_file(job_id: str) -> Response:
        require_scope("contacts:read")
        jid, tenant = parse_uuid(job_id, "export"), context.require_tenant()
        with db.transaction() as session:
            job = find_job(session, "export", jid)
            if job.params.get("files_purged_at"):
                raise Gone(f"The file of this export was deleted on {job.params['files_purged_at'][:10]}, after the "
                           "retention period; start a new export.")
            if job.status != "completed":
                raise Conflict(f"The export is {job.status}" + (f": {job.error}" if job.error else "; its file is not ready yet."),
                               status_of_job=job.status)
            size = file_size(session, jid, "output")
        return Response(read_chunks(db, tenant, jid, "output"), mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="{job.object}-{jid}.csv"', "Content-Length": str(size)})

    limited = _large_body(import_limit)
    upload_once = idem(fingerprint=_upload_fingerprint, lease_seconds=UPLOAD_LEASE_SECONDS)
    bp.add_url_rule("/v1/imports", "imports_create", limited(upload_once(create_import)), methods=["POST"])
    bp.add_url_rule("/v1/exports", "exports_create", idem()(create_export), methods=["POST"])
    for kind, path in (("import", "/v1/imports"), ("export", "/v1/exports")):
        bp.add_url_rule(path, f"{kind}s_list", functools.partial(listing, kind), methods=["GET"])
        bp.add_url_rule(f"{path}/<job_id>", f"{kind}s_get", functools.partial(read, kind), methods=["GET"])
    bp.add_url_rule("/v1/imports/<job_id>/errors", "imports_errors", import_errors, methods=["GET"])
    bp.add_url_rule("/v1/exports/<job_id>/file", "exports_file", export_file, methods=["GET"])
    _document(runtime)


def _document(runtime: ServiceRuntime) -> None:
    doc = runtime.doc
    doc.operation("/v1/imports", "post", summary="Import contacts or companies from a CSV file (runs in the background)",
                  tag="Imports", scope="contacts:write", response=ImportJobSchema, status=202, parameters=[IDEMPOTENCY],
                  extra_responses={413: "File larger than CRM_IMPORT_MAX_BYTES (default 2 GiB)",
                                   422: "Missing file, bad form field, or a mapping to an unknown field (mapping.<column>)"},
                  request_content=UPLOAD_DOC)
    doc.operation("/v1/exports", "post", summary="Export contacts or companies as CSV (runs in the background)",
                  tag="Exports", scope="contacts:write", request=ExportCreateSchema, response=ExportJobSchema, status=202,
                  parameters=[IDEMPOTENCY], extra_responses={422: "Unknown field in properties"})
    for kind, path, schema in (("import", "/v1/imports", ImportJobSchema), ("export", "/v1/exports", ExportJobSchema)):
        tag = f"{kind.capitalize()}s"
        doc.operation(path, "get", summary=f"List {kind}s, newest first", tag=tag, scope="contacts:read", response=schema,
                      list_of=True, parameters=[p for p in LIST_PARAMS if p["name"] in ("limit", "cursor", "sort")])
        doc.operation(f"{path}/{{job_id}}", "get", summary=f"Status and counts of an {kind}", tag=tag, scope="contacts:read",
                      response=schema, parameters=ID_PARAM, extra_responses={404: "Not found"})
    doc.operation("/v1/imports/{job_id}/errors", "get", summary="The rows an import could not take, as CSV: row (the header "
                  "is row 1), reason, then the row's cells", tag="Imports", scope="contacts:read", parameters=ID_PARAM,
                  extra_responses={404: "Not found"}, response_content=CSV)
    doc.operation("/v1/exports/{job_id}/file", "get", summary="Download a completed export (CSV; cells starting with = + - @ "
                  "tab or CR are prefixed with ' against formula injection)", tag="Exports", scope="contacts:read",
                  parameters=ID_PARAM, extra_responses={404: "Not found", 409: "Not completed (yet)"}, response_content=CSV)
