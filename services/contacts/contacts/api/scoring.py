"""/v1/scoring-rules: lead scoring rules, and the progress of the rescoring they trigger."""

from __future__ import annotations

from flask import Blueprint, Response
from sqlalchemy import select

from contacts.models import Job, ScoringRule
from contacts.schemas.jobs import BackgroundJobSchema, dump_job
from contacts.schemas.scoring import ScoringRuleCreateSchema, ScoringRuleInSchema, ScoringRuleSchema
from contacts.service.jobs import find_job
from contacts.service.scoring import ScoringRuleService
from crm_core.errors import NotFound
from crm_http.auth import require_scope
from crm_http.parsing import parse_uuid
from crm_http.resource import RecordRoutes, json_response
from crm_runtime.service import ServiceRuntime

RESCORE = "/v1/scoring-rules/rescore"


def register(bp: Blueprint, runtime: ServiceRuntime) -> None:
    output = ScoringRuleSchema()
    service = ScoringRuleService(runtime.outbox, output.dump)

    def latest() -> Response:
        require_scope("contacts:read")
        with runtime.db.transaction() as session:
            job = session.scalars(select(Job).where(Job.kind == "rescore").order_by(Job.created_at.desc(), Job.id.desc())).first()
            if job is None:
                raise NotFound("No rescoring has run yet.")
            return json_response(dump_job(job))

    def one(job_id: str) -> Response:
        require_scope("contacts:read")
        jid = parse_uuid(job_id, "rescoring")
        with runtime.db.transaction() as session:
            return json_response(dump_job(find_job(session, "rescore", jid)))

    # Before the record routes: /rescore must not be read as a rule id.
    bp.add_url_rule(RESCORE, "scoring_rescore_latest", latest, methods=["GET"])
    bp.add_url_rule(f"{RESCORE}/<job_id>", "scoring_rescore_get", one, methods=["GET"])
    RecordRoutes(
        collection="scoring-rules", area="contacts", tag="Lead scoring", admin_writes=True,
        db=lambda: runtime.db, service=lambda: service,
        create_schema=ScoringRuleCreateSchema(), update_schema=ScoringRuleInSchema(), output_schema=output,
        idempotency=lambda: runtime.idempotency,
        sortable={"name": ScoringRule.name, "points": ScoringRule.points},
    ).register(bp, runtime.doc)
    runtime.doc.operation(RESCORE, "get", summary="Progress of the latest rescoring of all contacts", tag="Lead scoring",
                          scope="contacts:read", response=BackgroundJobSchema, extra_responses={404: "None yet"})
    runtime.doc.operation(f"{RESCORE}/{{job_id}}", "get", summary="Progress of one rescoring", tag="Lead scoring",
                          scope="contacts:read", response=BackgroundJobSchema, extra_responses={404: "Not found"},
                          parameters=[{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}])
