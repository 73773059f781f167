"""Workflow routes: /v1/workflows (definitions, versions, manual runs, dry runs),
/v1/workflow-runs/{id} (history, retry, cancel), and /hooks/workflows/{secret} (incoming webhooks).

Reading needs automation:read; changing a definition needs an owner or admin (a workflow acts
for the whole tenant); starting, retrying or cancelling a run needs automation:write.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from automation.workflows.definition import DefinitionErrors, parse_definition
from automation.workflows.dryrun import DryRun
from automation.workflows.models import RUN_STATUSES, Workflow, WorkflowRun, WorkflowRunStep, WorkflowVersion
from automation.workflows.schemas import (
    ManualStartSchema,
    RunDetailSchema,
    RunSchema,
    RunStepSchema,
    TestRequestSchema,
    TestResultSchema,
    VersionSchema,
    WorkflowCreatedSchema,
    WorkflowInDoc,
    WorkflowPatchDoc,
    WorkflowSchema,
)
from automation.workflows.service import WorkflowService, get_run, get_workflow
from crm_core.errors import BadRequest, PayloadTooLarge, ServiceUnavailable, validation_error
from crm_http.auth import require_admin_access, require_scope
from crm_http.idempotency import idempotent
from crm_http.pagination import DEFAULT_LIMIT, MAX_LIMIT, paginate, parse_sort
from crm_http.parsing import if_match_version, json_body, load, parse_uuid, query_int
from crm_http.resource import LIST_PARAMS, json_response, record_response
from crm_runtime.service import ServiceRuntime

TAG = "Workflows"
BASE, RUNS = "/v1/workflows", "/v1/workflow-runs"
HOOKS = "/hooks/workflows"
READ, WRITE = "automation:read", "automation:write"
MAX_HOOK_BODY = 256 * 1024


class WorkflowRoutes:
    def __init__(self, runtime: ServiceRuntime, service: WorkflowService, dry_runs: DryRun | None) -> None:
        self.runtime, self.service, self.dry_runs = runtime, service, dry_runs
        self.out, self.created = WorkflowSchema(), WorkflowCreatedSchema()
        self.run_out, self.step_out = RunSchema(), RunStepSchema(many=True)

    @property
    def db(self) -> Any:
        return self.runtime.db

    # -- definitions -----------------------------------------------------------------------------

    def create(self) -> Response:
        require_scope(WRITE)
        require_admin_access()
        with self.db.transaction() as session:
            workflow, hook, signing = self.service.create(session, json_body())
            body = self.created.dump(workflow)
            public = (self.runtime.settings.get("CRM_PUBLIC_URL", "http://127.0.0.1:8080") or "").rstrip("/")
            body["webhook_url"] = f"{public}{HOOKS}/{hook}" if hook else None
            body["webhook_signing_secret"] = signing
        return record_response(body, 201, location=f"{BASE}/{body['id']}")

    def list(self) -> Response:
        require_scope(READ)
        limit = query_int("limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
        stmt = select(Workflow)
        enabled = request.args.get("enabled")
        if enabled is not None:
            if enabled not in ("true", "false"):
                raise BadRequest("enabled is true or false.", errors={"enabled": ["true or false."]})
            stmt = stmt.where(Workflow.enabled.is_(enabled == "true"))
        keys = parse_sort(request.args.get("sort"), {"created_at": Workflow.created_at, "name": Workflow.name},
                          "-created_at", Workflow.id)
        with self.db.transaction() as session:
            rows, next_cursor = paginate(session, stmt, keys, limit, request.args.get("cursor"))
            data = [self.out.dump(w) for w in rows]
        return json_response({"data": data, "next_cursor": next_cursor})

    def read(self, record_id: str) -> Response:
        require_scope(READ)
        with self.db.transaction() as session:
            body = self.out.dump(get_workflow(session, parse_uuid(record_id, "workflow")))
        return record_response(body)

    def update(self, record_id: str) -> Response:
        require_scope(WRITE)
        require_admin_access()
        with self.db.transaction() as session:
            workflow = get_workflow(session, parse_uuid(record_id, "workflow"), lock=True)
            body = self.out.dump(self.service.update(session, workflow, json_body(), if_match_version()))
        return record_response(body)

    def delete(self, record_id: str) -> Response:
        require_scope(WRITE)
        require_admin_access()
        with self.db.transaction() as session:
            workflow = get_workflow(session, parse_uuid(record_id, "workflow"), lock=True)
            self.service.delete(session, workflow, if_match_version())
        return Response(status=204)

    def versions(self, record_id: str) -> Response:
        require_scope(READ)
        with self.db.transaction() as session:
            workflow = get_workflow(session, parse_uuid(record_id, "workflow"))
            rows = session.scalars(select(WorkflowVersion).where(WorkflowVersion.workflow_id == workflow.id)
                                   .order_by(WorkflowVersion.number.desc()).limit(200)).all()
            data = VersionSchema(many=True).dump(rows)
        return json_response({"data": data, "next_cursor": None})

    def test(self, record_id: str) -> Response:
        require_scope(READ)
        values = load(TestRequestSchema())
        with self.db.transaction() as session:
            workflow = get_workflow(session, parse_uuid(record_id, "workflow"))
            raw = values.get("definition") or workflow.definition
            try:
                definition = parse_definition({"trigger": raw.get("trigger") or {}, "steps": raw.get("steps") or []},
                                              self.service.actions)
            except DefinitionErrors as exc:
                raise validation_error({f"definition.{k}": v for k, v in exc.errors.items()}) from exc
            tenant, wid = workflow.tenant_id, workflow.id
        if self.dry_runs is None:
            raise ServiceUnavailable("Workflows are not configured here: automation needs CRM_INTERNAL_PRIVATE_KEY.")
        ids: list[str | None] = list(values.get("record_ids") or []) or [None]
        if definition.record_type and ids == [None]:
            raise validation_error({"record_ids": [f"Name the {definition.record_type}s to test on."]})
        results = [self.dry_runs.run(tenant, wid, definition, definition.record_type, rid) for rid in ids]
        return json_response({"results": results})

    # -- runs ------------------------------------------------------------------------------------

    def start(self, record_id: str) -> Response:
        require_scope(WRITE)
        values = load(ManualStartSchema())
        key = request.headers.get("Idempotency-Key") or uuid.uuid4().hex
        with self.db.transaction() as session:
            workflow = get_workflow(session, parse_uuid(record_id, "workflow"), lock=True)
            started = self.service.start_manual(session, workflow, values["record_ids"], key)
            data = [self.run_out.dump(r) for r in started]
        return json_response({"data": data}, 202)

    def list_runs(self, record_id: str) -> Response:
        require_scope(READ)
        limit = query_int("limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
        status = request.args.get("status")
        if status is not None and status not in RUN_STATUSES:
            raise BadRequest(f"Unknown status {status!r}.", errors={"status": [f"One of: {', '.join(RUN_STATUSES)}."]})
        keys = parse_sort(None, {"created_at": WorkflowRun.created_at}, "-created_at", WorkflowRun.id)
        with self.db.transaction() as session:
            workflow = get_workflow(session, parse_uuid(record_id, "workflow"))
            stmt = select(WorkflowRun).where(WorkflowRun.workflow_id == workflow.id)
            if status is not None:
                stmt = stmt.where(WorkflowRun.status == status)
            if request.args.get("record_id"):
                stmt = stmt.where(WorkflowRun.record_id == request.args["record_id"][:100])
            rows, next_cursor = paginate(session, stmt, keys, limit, request.args.get("cursor"))
            data = [self.run_out.dump(r) for r in rows]
        return json_response({"data": data, "next_cursor": next_cursor})

    def _run_body(self, session: Session, run: WorkflowRun) -> dict[str, Any]:
        steps = session.scalars(select(WorkflowRunStep).where(WorkflowRunStep.run_id == run.id)
                                .order_by(WorkflowRunStep.sequence)).all()
        body = self.run_out.dump(run)
        body["steps"] = self.step_out.dump(steps)
        return body

    def read_run(self, run_id: str) -> Response:
        require_scope(READ)
        with self.db.transaction() as session:
            body = self._run_body(session, get_run(session, parse_uuid(run_id, "workflow run")))
        return record_response(body)

    def retry(self, run_id: str) -> Response:
        require_scope(WRITE)
        with self.db.transaction() as session:
            run = self.service.retry(session, get_run(session, parse_uuid(run_id, "workflow run"), lock=True))
            body = self._run_body(session, run)
        return json_response(body, 202)

    def cancel(self, run_id: str) -> Response:
        require_scope(WRITE)
        with self.db.transaction() as session:
            run = self.service.cancel(session, get_run(session, parse_uuid(run_id, "workflow run"), lock=True))
            body = self._run_body(session, run)
        return json_response(body)

    # -- incoming webhooks -----------------------------------------------------------------------

    def hook(self, secret: str) -> Response:
        raw = request.get_data(cache=True)
        if len(raw) > MAX_HOOK_BODY:
            raise PayloadTooLarge(f"The body is larger than {MAX_HOOK_BODY} bytes.")
        h = request.headers
        run, enabled = self.service.receive_hook(self.db, secret, raw, h.get("X-Crm-Timestamp"), h.get("X-Crm-Signature"),
                                                 h.get("X-Crm-Delivery-Id"))
        status = "disabled" if not enabled else "started" if run else "duplicate"
        return json_response({"status": status, "run_id": str(run.id) if run else None}, 202)

    # -- wiring ----------------------------------------------------------------------------------

    def register(self, bp: Blueprint) -> None:
        once = idempotent(lambda: self.db, lambda: self.runtime.idempotency)
        bp.add_url_rule(BASE, "workflows_create", once(self.create), methods=["POST"])
        bp.add_url_rule(BASE, "workflows_list", self.list, methods=["GET"])
        item = f"{BASE}/<record_id>"
        bp.add_url_rule(item, "workflows_get", self.read, methods=["GET"])
        bp.add_url_rule(item, "workflows_update", self.update, methods=["PATCH"])
        bp.add_url_rule(item, "workflows_delete", self.delete, methods=["DELETE"])
        bp.add_url_rule(f"{item}/versions", "workflows_versions", self.versions, methods=["GET"])
        bp.add_url_rule(f"{item}/test", "workflows_test", self.test, methods=["POST"])
        bp.add_url_rule(f"{item}/runs", "workflows_start", once(self.start), methods=["POST"])
        bp.add_url_rule(f"{item}/runs", "workflows_runs", self.list_runs, methods=["GET"])
        run = f"{RUNS}/<run_id>"
        bp.add_url_rule(run, "workflow_runs_get", self.read_run, methods=["GET"])
        bp.add_url_rule(f"{run}/retry", "workflow_runs_retry", once(self.retry), methods=["POST"])
        bp.add_url_rule(f"{run}/cancel", "workflow_runs_cancel", self.cancel, methods=["POST"])
        bp.add_url_rule(f"{HOOKS}/<secret>", "workflow_hooks", self.hook, methods=["POST"])
        self._document()

    def _document(self) -> None:
        doc = self.runtime.doc
        wid = {"name": "record_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
        rid = {"name": "run_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
        if_match = {"name": "If-Match", "in": "header", "schema": {"type": "string"}}
        key = {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}}
        item, run = f"{BASE}/{{record_id}}", f"{RUNS}/{{run_id}}"
        paging = [p for p in LIST_PARAMS if p["name"] != "sort"]
        invalid = {422: "Invalid definition (errors name the step and field)"}
        doc.operation(BASE, "post", summary="Create a workflow (a webhook trigger's URL and signing secret are shown here only)",
                      tag=TAG, scope=WRITE, request=WorkflowInDoc, response=WorkflowCreatedSchema, status=201,
                      parameters=[key], extra_responses={**invalid, 403: "Owners and admins only"})
        doc.operation(BASE, "get", summary="List workflows", tag=TAG, scope=READ, response=WorkflowSchema, list_of=True,
                      parameters=[*LIST_PARAMS, {"name": "enabled", "in": "query", "schema": {"type": "boolean"}}])
        doc.operation(item, "get", summary="Get a workflow", tag=TAG, scope=READ, response=WorkflowSchema,
                      parameters=[wid], extra_responses={404: "Not found"})
        doc.operation(item, "patch", summary="Change a workflow (a change of trigger or steps is a new version)", tag=TAG,
                      scope=WRITE, request=WorkflowPatchDoc, response=WorkflowSchema, parameters=[wid, if_match],
                      extra_responses={**invalid, 404: "Not found", 412: "Changed meanwhile"})
        doc.operation(item, "delete", summary="Delete a workflow (its unfinished runs are cancelled)", tag=TAG, scope=WRITE,
                      status=204, parameters=[wid, if_match], extra_responses={404: "Not found", 412: "Changed meanwhile"})
        doc.operation(f"{item}/versions", "get", summary="The workflow's versions, newest first", tag=TAG, scope=READ,
                      response=VersionSchema, list_of=True, parameters=[wid], extra_responses={404: "Not found"})
        doc.operation(f"{item}/test", "post", summary="Dry run on chosen records: what each step would do, changing nothing",
                      tag=TAG, scope=READ, request=TestRequestSchema, response=TestResultSchema, parameters=[wid],
                      extra_responses={**invalid, 404: "Not found"})
        doc.operation(f"{item}/runs", "post", summary="Start a manual workflow on chosen records", tag=TAG, scope=WRITE,
                      request=ManualStartSchema, response=RunSchema, list_of=True, status=202, parameters=[wid, key],
                      extra_responses={404: "Not found", 409: "Not a manual workflow, or disabled", 422: "Unknown records"})
        doc.operation(f"{item}/runs", "get", summary="The workflow's runs, newest first", tag=TAG, scope=READ,
                      response=RunSchema, list_of=True, extra_responses={404: "Not found"},
                      parameters=[wid, *paging, {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(RUN_STATUSES)}},
                                  {"name": "record_id", "in": "query", "schema": {"type": "string"}}])
        doc.operation(run, "get", summary="A run with every step's input, output, error, attempts and timing", tag=TAG,
                      scope=READ, response=RunDetailSchema, parameters=[rid], extra_responses={404: "Not found"})
        doc.operation(f"{run}/retry", "post", summary="Resume a failed run from its failed step", tag=TAG, scope=WRITE,
                      response=RunDetailSchema, status=202, parameters=[rid, key],
                      extra_responses={404: "Not found", 409: "Not failed"})
        doc.operation(f"{run}/cancel", "post", summary="Stop a running or waiting run", tag=TAG, scope=WRITE,
                      response=RunDetailSchema, parameters=[rid], extra_responses={404: "Not found", 409: "Already finished"})


def register(bp: Blueprint, runtime: ServiceRuntime, service: WorkflowService, dry_runs: DryRun | None) -> None:
    WorkflowRoutes(runtime, service, dry_runs).register(bp)
