"""Use cases of workflow definitions: create, change (a new version), enable, delete; start runs
by hand or by an incoming webhook; retry and cancel runs."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from automation.models import Base
from automation.workflows import runs
from automation.workflows.checks import check_cycles, check_fields, node_of
from automation.workflows.client import ServiceApi
from automation.workflows.definition import Definition, DefinitionErrors, WorkflowSchema, parse_definition
from automation.workflows.models import FAILED, RUNNING, WAITING, Workflow, WorkflowRun, WorkflowRunStep, WorkflowVersion, hook_secrets
from automation.workflows.scheduling import plan_schedule
from automation.workflows.steps import ActionRegistry
from crm_core.context import current_principal, require_tenant, tenant_context
from crm_core.errors import BadRequest, Conflict, NotFound, PreconditionFailed, Unauthorized, validation_error
from crm_core.ids import secret_hash
from crm_core.metrics import metrics
from crm_db.base import utcnow
from crm_db.database import Database
from crm_events.outbox import Outbox
from crm_http.parsing import flatten_errors

SIGNATURE_TOLERANCE = dt.timedelta(minutes=5)
MAX_MANUAL_RECORDS = 500


def _definition_body(values: Mapping[str, Any]) -> dict[str, Any]:
    return {"trigger": values["trigger"], "steps": values["steps"]}


class WorkflowService:
    def __init__(self, api: ServiceApi | None, actions: ActionRegistry, limits: runs.Limits) -> None:
        self.api, self.actions, self.limits = api, actions, limits
        self.outbox = Outbox("automation", Base.metadata)

    # -- definitions -----------------------------------------------------------------------------

    def validate(self, session: Session, raw: Any, *, workflow_id: uuid.UUID | None = None,
                 name: str | None = None, enabled: bool = True) -> tuple[dict[str, Any], Definition]:
        """The loaded body and its definition, or a 422 naming each problem by where it is."""
        if not isinstance(raw, dict):
            raise validation_error({"_body": ["Expected a JSON object."]})
        try:
            values = WorkflowSchema().load(raw)
        except ValidationError as exc:
            raise validation_error(flatten_errors(exc.messages)) from exc
        try:
            definition = parse_definition(values, self.actions)
            if self.api is not None:
                check_fields(self.api, require_tenant(), definition)
            if values.get("enabled", enabled):
                others = [node_of(str(w.id), w.name, runs.definition_for_workflow(session, w, self.actions), self.actions)
                          for w in session.scalars(select(Workflow).where(Workflow.enabled.is_(True))).all()
                          if w.id != workflow_id]
                check_cycles(node_of(str(workflow_id or "new"), values.get("name") or name or "this workflow",
                                     definition, self.actions), others)
        except DefinitionErrors as exc:
            raise validation_error(exc.errors, "The workflow has problems; each is named by where it is.") from exc
        return values, definition

    def _check_active_limit(self, session: Session, exclude: uuid.UUID | None) -> None:
        stmt = select(func.count()).select_from(Workflow).where(Workflow.enabled.is_(True))
        if exclude is not None:
            stmt = stmt.where(Workflow.id != exclude)
        if int(session.scalar(stmt) or 0) >= self.limits.max_active:
            metrics().workflow_limit_rejections.labels("active_workflows").inc()
            raise validation_error({"enabled": [f"At most {self.limits.max_active} workflows can be enabled at once; "
                                                f"disable one first."]}, "Too many enabled workflows.")

    def create(self, session: Session, raw: Any) -> tuple[Workflow, str | None, str | None]:
        """The workflow, and for a webhook trigger its URL secret and signing secret (shown once)."""
        values, definition = self.validate(session, raw)
        if values["enabled"]:
            self._check_active_limit(session, None)
        principal = current_principal()
        user = principal.user_id if principal else None
        body = _definition_body(values)
        workflow = Workflow(id=uuid.uuid4(), name=values["name"], description=values.get("description"),
                            enabled=values["enabled"], trigger_type=definition.trigger["type"],
                            trigger_event=definition.trigger.get("event"), version_number=1, definition=body,
                            created_by=user)
        session.add(workflow)
        session.flush()
        session.add(WorkflowVersion(workflow_id=workflow.id, number=1, definition=body, created_by=user))
        hook, signing = self._hooks(session, workflow)
        plan_schedule(session, workflow, utcnow())
        self.outbox.emit(session, "crm.workflow.created", workflow.id, self.summary(workflow))
        return workflow, hook, signing

    def update(self, session: Session, workflow: Workflow, raw: Any, expected_version: int | None) -> Workflow:
        if expected_version is not None and expected_version != workflow.version:
            raise PreconditionFailed("The workflow was changed since you read it.", current=workflow.version)
        if not isinstance(raw, dict):
            raise validation_error({"_body": ["Expected a JSON object."]})
        merged = {"name": workflow.name, "description": workflow.description, "enabled": workflow.enabled,
                  **workflow.definition, **raw}
        values, definition = self.validate(session, merged, workflow_id=workflow.id)
        if values["enabled"] and not workflow.enabled:
            self._check_active_limit(session, workflow.id)
        body = _definition_body(values)
        if body != workflow.definition:
            workflow.version_number += 1
            principal = current_principal()
            session.add(WorkflowVersion(workflow_id=workflow.id, number=workflow.version_number, definition=body,
                                        created_by=principal.user_id if principal else None))
        workflow.name, workflow.description, workflow.enabled = values["name"], values.get("description"), values["enabled"]
        workflow.definition, workflow.trigger_type = body, definition.trigger["type"]
        workflow.trigger_event = definition.trigger.get("event")
        workflow.version += 1
        self._hooks(session, workflow)
        plan_schedule(session, workflow, utcnow())
        self.outbox.emit(session, "crm.workflow.updated", workflow.id, self.summary(workflow))
        return workflow

    def delete(self, session: Session, workflow: Workflow, expected_version: int | None = None) -> None:
        if expected_version is not None and expected_version != workflow.version:
            raise PreconditionFailed("The workflow was changed since you read it.", current=workflow.version)
        runs.stop_runs(session, workflow.id, None, utcnow(), "The workflow was deleted.")
        runs.timers().cancel(session, runs.SCHEDULE, workflow.id)
        for run_id in session.scalars(select(WorkflowRun.id).where(WorkflowRun.workflow_id == workflow.id)).all():
            runs.timers().cancel(session, runs.RESUME, run_id)
        self.outbox.emit(session, "crm.workflow.deleted", workflow.id, {"id": str(workflow.id), "name": workflow.name})
        session.delete(workflow)

    def summary(self, workflow: Workflow) -> dict[str, Any]:
        return {"id": str(workflow.id), "name": workflow.name, "enabled": workflow.enabled,
                "version_number": workflow.version_number, "trigger": workflow.definition.get("trigger")}

    def _hooks(self, session: Session, workflow: Workflow) -> tuple[str | None, str | None]:
        """A webhook trigger gets its secrets on becoming one; other triggers lose them."""
        if workflow.trigger_type != "webhook":
            if workflow.hook_secret_hash:
                session.execute(delete(hook_secrets).where(hook_secrets.c.workflow_id == workflow.id,
                                                           hook_secrets.c.tenant_id == workflow.tenant_id))
                workflow.hook_secret_hash = workflow.hook_signing_secret = None
            return None, None
        if workflow.hook_secret_hash:
            return None, None
        secret, signing = "wfh_" + secrets.token_urlsafe(32), "whsec_" + secrets.token_urlsafe(32)
        workflow.hook_secret_hash, workflow.hook_signing_secret = secret_hash(secret), signing
        session.flush()
        session.execute(insert(hook_secrets).values(secret_hash=workflow.hook_secret_hash, tenant_id=workflow.tenant_id,
                                                    workflow_id=workflow.id))
        return secret, signing

    # -- runs ------------------------------------------------------------------------------------

    def receive_hook(self, db: Database, secret: str, raw: bytes, timestamp: str | None, signature: str | None,
                     delivery_id: str | None) -> tuple[WorkflowRun | None, bool]:
        """An incoming webhook: (the run it started, or None for a replay; whether the workflow is
        enabled). The secret names the tenant; the signature must match before anything else."""
        if not secret or len(secret) > 200:
            raise NotFound("No workflow has this webhook URL.")
        with db.transaction() as session:  # the lookup: a platform table, read by the secret alone
            found = session.execute(select(hook_secrets.c.tenant_id, hook_secrets.c.workflow_id).where(
                hook_secrets.c.secret_hash == secret_hash(secret))).first()
        if found is None:
            raise NotFound("No workflow has this webhook URL.")
        with tenant_context(found.tenant_id), db.transaction() as session:
            workflow = get_workflow(session, found.workflow_id, lock=True)
            verify_hook(workflow.hook_signing_secret or "", timestamp, signature, raw, utcnow())
            try:
                payload = json.loads(raw or b"{}")
            except ValueError as exc:
                raise BadRequest("The body is not JSON.", errors={"_body": ["Not JSON."]}) from exc
            if not isinstance(payload, dict):
                raise validation_error({"_body": ["Expected a JSON object."]})
            definition = runs.definition_for_workflow(session, workflow, self.actions)
            record_type = definition.record_type
            record_id = payload.get("record_id") if record_type else None
            if record_type and not isinstance(record_id, str):
                raise validation_error({"record_id": [f"This workflow acts on a {record_type}: give its record_id."]})
            if not workflow.enabled:
                return None, False
            key = delivery_id or hashlib.sha256((signature or "").encode() + raw).hexdigest()
            run = runs.start_run(session, workflow, definition, trigger_key=f"webhook:{key[:150]}",
                                 trigger={"type": "webhook", **payload}, record_type=record_type, record_id=record_id,
                                 causation=[], now=utcnow(), limits=self.limits, event_time=utcnow())
            return run, True

    def start_manual(self, session: Session, workflow: Workflow, record_ids: list[str], key: str) -> list[WorkflowRun]:
        definition = runs.definition_for_workflow(session, workflow, self.actions)
        if definition.trigger["type"] != "manual":
            raise Conflict("Only a workflow with a manual trigger is started by hand.")
        if not workflow.enabled:
            raise Conflict("The workflow is disabled.")
        record_type = definition.record_type
        errors: dict[str, list[str]] = {}
        if self.api is not None and record_type:
            for i, rid in enumerate(record_ids):
                if self.api.record(require_tenant(), record_type, rid) is None:
                    errors[f"record_ids.{i}"] = [f"No {record_type} with id {rid!r}."]
        if errors:
            raise validation_error(errors)
        principal = current_principal()
        started = []
        for rid in record_ids:
            run = runs.start_run(session, workflow, definition, trigger_key=f"manual:{key}:{rid}",
                                 trigger={"type": "manual", "user_id": str(principal.user_id) if principal and principal.user_id else None},
                                 record_type=record_type, record_id=rid, causation=[], now=utcnow(), limits=self.limits,
                                 started_by=principal.user_id if principal else None)
            if run is not None:
                started.append(run)
        return started

    def retry(self, session: Session, run: WorkflowRun) -> WorkflowRun:
        if run.status != FAILED or run.current_step is None:
            raise Conflict("Only a failed run that stopped at a step can be retried."
                           if run.status == FAILED else f"The run is {run.status}: nothing to retry.")
        step = session.scalars(select(WorkflowRunStep).where(
            WorkflowRunStep.run_id == run.id, WorkflowRunStep.step_id == run.current_step)).first()
        if step is not None:
            step.status, step.finished_at = "retrying", None
        run.status, run.error, run.finished_at = RUNNING, None, None
        runs.enqueue(session, run, utcnow())
        metrics().workflow_runs.labels("retried").inc()
        return run

    def cancel(self, session: Session, run: WorkflowRun) -> WorkflowRun:
        if run.status not in (RUNNING, WAITING):
            raise Conflict(f"The run is {run.status}: nothing to cancel.")
        principal = current_principal()
        who = f"user {principal.user_id}" if principal and principal.user_id else "the API"
        runs.cancel(session, run, utcnow(), f"Cancelled by {who}.")
        return run


def get_workflow(session: Session, workflow_id: uuid.UUID, *, lock: bool = False) -> Workflow:
    stmt = select(Workflow).where(Workflow.id == workflow_id)
    found = session.scalars(stmt.with_for_update() if lock else stmt).first()
    if found is None:
        raise NotFound(f"No workflow with id {workflow_id}.")
    return found


def get_run(session: Session, run_id: uuid.UUID, *, lock: bool = False) -> WorkflowRun:
    stmt = select(WorkflowRun).where(WorkflowRun.id == run_id)
    found = session.scalars(stmt.with_for_update() if lock else stmt).first()
    if found is None:
        raise NotFound(f"No workflow run with id {run_id}.")
    return found


def verify_hook(signing_secret: str, timestamp: str | None, signature: str | None, body: bytes, now: dt.datetime) -> None:
    """`X-Crm-Signature: sha256=<hex HMAC of "<timestamp>.<body>">`, within five minutes."""
    if not timestamp or not signature:
        raise Unauthorized("Sign the request: X-Crm-Timestamp and X-Crm-Signature.")
    try:
        sent = dt.datetime.fromtimestamp(int(timestamp), dt.UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise Unauthorized("X-Crm-Timestamp is unix seconds.") from exc
    if abs(now - sent) > SIGNATURE_TOLERANCE:
        raise Unauthorized("The request's timestamp is more than 5 minutes away: sign it anew.")
    expected = hmac.new(signing_secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    given = signature.removeprefix("sha256=")
    if not hmac.compare_digest(expected, given):
        raise Unauthorized("The signature does not match.")
