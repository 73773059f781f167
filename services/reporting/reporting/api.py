"""Reports routes: /v1/reports/..."""

from __future__ import annotations

from flask import Blueprint, Response

from crm_http.auth import require_scope
from crm_http.resource import json_response
from crm_runtime.service import ServiceRuntime
from reporting.schemas import SummarySchema
from reporting.summary import tenant_summary

SUMMARY = "/v1/reports/summary"


def register(bp: Blueprint, runtime: ServiceRuntime) -> None:
    schema = SummarySchema()

    def summary() -> Response:
        require_scope("reports:read")
        with runtime.db.transaction() as session:
            body = tenant_summary(session)
        return json_response(schema.dump(body))

    bp.add_url_rule(SUMMARY, "reports_summary", summary, methods=["GET"])
    runtime.doc.operation(SUMMARY, "get", summary="Summary of the tenant's records", tag="Reports",
                          scope="reports:read", response=SummarySchema)
