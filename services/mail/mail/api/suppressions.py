"""/v1/mail/suppressions: addresses the tenant's marketing mail never goes to (hard bounces: no mail)."""

from __future__ import annotations

from flask import Blueprint, Response, request
from sqlalchemy import select

from crm_core.errors import NotFound
from crm_http.auth import require_admin_access, require_scope
from crm_http.idempotency import idempotent
from crm_http.parsing import load, parse_uuid
from crm_http.resource import json_response
from crm_runtime.service import ServiceRuntime
from mail.api.messages import ID_PARAM, PAGING, READ, TAG, WRITE, choice, listing
from mail.models import SUPPRESSION_REASONS, Suppression
from mail.schemas.senders import SuppressionCreateSchema, SuppressionSchema, suppression_body
from mail.service.suppressions import add_suppression, normalise

BASE = "/v1/mail/suppressions"


def register(bp: Blueprint, runtime: ServiceRuntime) -> None:
    def list_suppressions() -> Response:
        require_scope(READ)
        stmt = select(Suppression)
        if (reason := choice("reason", SUPPRESSION_REASONS)) is not None:
            stmt = stmt.where(Suppression.reason == reason)
        if address := request.args.get("address"):
            stmt = stmt.where(Suppression.address == normalise(address))
        return listing(runtime, stmt, Suppression, suppression_body, Suppression.created_at)

    def create() -> Response:
        require_scope(WRITE)
        values = load(SuppressionCreateSchema())
        with runtime.db.transaction() as session:
            row = add_suppression(session, values["address"], values["reason"], detail=values["detail"])
            body = suppression_body(row)
        return json_response(body, 201, {"Location": f"{BASE}/{body['id']}"})

    def delete(record_id: str) -> Response:
        require_scope(WRITE)
        require_admin_access()  # lifting a suppression may send mail to someone who said no
        sid = parse_uuid(record_id, "suppression")
        with runtime.db.transaction() as session:
            row = session.scalars(select(Suppression).where(Suppression.id == sid)).first()
            if row is None:
                raise NotFound(f"No suppression with id {record_id!r}.")
            session.delete(row)
        return Response(status=204)

    bp.add_url_rule(BASE, "mail_suppressions_list", list_suppressions, methods=["GET"])
    bp.add_url_rule(BASE, "mail_suppressions_create", idempotent(lambda: runtime.db, lambda: runtime.idempotency)(create),
                    methods=["POST"])
    bp.add_url_rule(f"{BASE}/<record_id>", "mail_suppressions_delete", delete, methods=["DELETE"])
    doc = runtime.doc
    doc.operation(BASE, "get", summary="List suppressed addresses", tag=TAG, scope=READ, parameters=[
        *PAGING, {"name": "reason", "in": "query", "schema": {"type": "string", "enum": list(SUPPRESSION_REASONS)}},
        {"name": "address", "in": "query", "schema": {"type": "string"}}], response=SuppressionSchema, list_of=True)
    doc.operation(BASE, "post", summary="Suppress an address (manual or unsubscribe)", tag=TAG, scope=WRITE,
                  request=SuppressionCreateSchema, response=SuppressionSchema, status=201, extra_responses={422: "Invalid fields"})
    doc.operation(f"{BASE}/{{record_id}}", "delete", summary="Lift a suppression (owners and admins)", tag=TAG,
                  scope=WRITE, parameters=ID_PARAM, status=204, extra_responses={404: "Not found"})
