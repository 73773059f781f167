"""Webhook routes: /v1/webhooks (subscriptions), their deliveries, retries and test pings."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy.orm import Session

from automation import deliveries
from automation.models import WebhookDelivery
from automation.schemas import (
    AttemptSchema,
    DeliverySchema,
    WebhookCreatedSchema,
    WebhookCreateSchema,
    WebhookInSchema,
    WebhookSchema,
)
from automation.service import ALLOW_PRIVATE, WebhookService
from automation.workflows import wiring as workflow_wiring
from crm_core.errors import BadRequest
from crm_db.base import utcnow
from crm_http.auth import require_admin_access, require_scope
from crm_http.idempotency import idempotent
from crm_http.openapi import ApiDoc
from crm_http.pagination import DEFAULT_LIMIT, MAX_LIMIT, paginate, parse_sort
from crm_http.parsing import load, parse_uuid, query_int
from crm_http.resource import LIST_PARAMS, RecordRoutes, json_response, record_response
from crm_runtime.service import ServiceRuntime

TAG = "Webhooks"
BASE = "/v1/webhooks"
READ, WRITE = "automation:read", "automation:write"


class WebhookRoutes(RecordRoutes):
    """The conventional routes, except that the create answer alone carries the signing secret."""

    def create(self) -> Response:
        require_scope(WRITE)
        values = load(self.create_schema)
        with self.db().transaction() as session:
            record = self.service().create(session, values)
            body = WebhookCreatedSchema().dump(record)
        return record_response(body, 201, location=f"{self.base}/{body['id']}")

    def register(self, bp: Blueprint, doc: ApiDoc) -> None:
        super().register(bp, doc)
        doc.operation(self.base, "post", summary="Create a webhook (the answer alone shows its signing secret)",
                      tag=self.tag, scope=WRITE, request=WebhookCreateSchema, response=WebhookCreatedSchema, status=201,
                      extra_responses={409: "Conflict", 422: "Invalid fields"},
                      parameters=[{"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}}])


class DeliveryRoutes:
    """Deliveries of one subscription; another tenant's subscription is 404 like an unknown one."""

    def __init__(self, runtime: ServiceRuntime, service: WebhookService) -> None:
        self.runtime = runtime
        self.service = service
        self.delivery = DeliverySchema()
        self.attempt = AttemptSchema(many=True)

    def _dump(self, session: Session, rows: list[WebhookDelivery]) -> list[dict[str, Any]]:
        attempts = deliveries.attempts_of(session, [d.id for d in rows])
        return [{**self.delivery.dump(d), "attempts": self.attempt.dump(attempts[d.id])} for d in rows]

    def _accepted(self, session: Session, webhook_id: uuid.UUID, delivery: WebhookDelivery) -> Response:
        body = self._dump(session, [delivery])[0]
        return json_response(body, 202, {"Location": f"{BASE}/{webhook_id}/deliveries/{delivery.id}"})

    def list(self, record_id: str) -> Response:
        require_scope(READ)
        wid = parse_uuid(record_id, "webhook")
        limit = query_int("limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
        status = request.args.get("status")
        if status is not None and status not in deliveries.STATUSES:
            raise BadRequest(f"Unknown status {status!r}.", errors={"status": [f"One of: {', '.join(deliveries.STATUSES)}."]})
        keys = parse_sort(None, {"created_at": WebhookDelivery.created_at}, "-created_at", WebhookDelivery.id)
        stmt = deliveries.deliveries_of(wid)
        if status is not None:
            stmt = stmt.where(WebhookDelivery.status == status)
        with self.runtime.db.transaction() as session:
            self.service.get(session, wid)
            rows, next_cursor = paginate(session, stmt, keys, limit, request.args.get("cursor"))
            data = self._dump(session, rows)
        return json_response({"data": data, "next_cursor": next_cursor})

    def read(self, record_id: str, delivery_id: str) -> Response:
        require_scope(READ)
        wid, did = parse_uuid(record_id, "webhook"), parse_uuid(delivery_id, "delivery")
        with self.runtime.db.transaction() as session:
            self.service.get(session, wid)
            body = self._dump(session, [deliveries.get_delivery(session, wid, did)])[0]
        return json_response(body)

    def retry(self, record_id: str, delivery_id: str) -> Response:
        require_scope(WRITE)
        wid, did = parse_uuid(record_id, "webhook"), parse_uuid(delivery_id, "delivery")
        with self.runtime.db.transaction() as session:
            delivery = deliveries.retry(session, self.service.get(session, wid), did, utcnow())
            return self._accepted(session, wid, delivery)

    def test(self, record_id: str) -> Response:
        require_scope(WRITE)
        wid = parse_uuid(record_id, "webhook")
        with self.runtime.db.transaction() as session:
            delivery = deliveries.ping(session, self.service.get(session, wid), utcnow())
            return self._accepted(session, wid, delivery)

    def register(self, bp: Blueprint) -> None:
        once = idempotent(lambda: self.runtime.db, lambda: self.runtime.idempotency)
        item = f"{BASE}/<record_id>/deliveries/<delivery_id>"
        bp.add_url_rule(f"{BASE}/<record_id>/deliveries", "webhook_deliveries_list", self.list, methods=["GET"])
        bp.add_url_rule(item, "webhook_deliveries_get", self.read, methods=["GET"])
        bp.add_url_rule(f"{item}/retry", "webhook_deliveries_retry", once(self.retry), methods=["POST"])
        bp.add_url_rule(f"{BASE}/<record_id>/test", "webhooks_test", once(self.test), methods=["POST"])
        self._document()

    def _document(self) -> None:
        doc = self.runtime.doc
        wid = {"name": "record_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
        did = {"name": "delivery_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
        status = {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(deliveries.STATUSES)}}
        base, item = f"{BASE}/{{record_id}}", f"{BASE}/{{record_id}}/deliveries/{{delivery_id}}"
        paging = [p for p in LIST_PARAMS if p["name"] != "sort"]
        doc.operation(f"{base}/deliveries", "get", summary="List a webhook's deliveries, newest first", tag=TAG,
                      scope=READ, response=DeliverySchema, list_of=True, parameters=[wid, *paging, status],
                      extra_responses={404: "Not found"})
        doc.operation(item, "get", summary="Get a delivery with its attempts", tag=TAG, scope=READ,
                      response=DeliverySchema, parameters=[wid, did], extra_responses={404: "Not found"})
        doc.operation(f"{item}/retry", "post", summary="Deliver again now", tag=TAG, scope=WRITE,
                      response=DeliverySchema, status=202, parameters=[wid, did],
                      extra_responses={404: "Not found", 409: "Webhook inactive"})
        doc.operation(f"{base}/test", "post", summary="Send a crm.webhook.test event", tag=TAG, scope=WRITE,
                      response=DeliverySchema, status=202, parameters=[wid],
                      extra_responses={404: "Not found", 409: "Webhook inactive"})


def register(bp: Blueprint, runtime: ServiceRuntime) -> None:
    hooks = Blueprint("webhooks", __name__)
    hooks.before_request(require_admin_access)  # webhooks are tenant administration: owners, admins, `admin` keys
    _register_webhooks(hooks, runtime)
    bp.register_blueprint(hooks)
    workflows = Blueprint("workflows", __name__)
    workflow_wiring.register(workflows, runtime)
    bp.register_blueprint(workflows)


def _register_webhooks(bp: Blueprint, runtime: ServiceRuntime) -> None:
    output = WebhookSchema()
    service = WebhookService(runtime.outbox, output.dump, allow_private=runtime.settings.get_bool(ALLOW_PRIVATE))
    WebhookRoutes(
        collection="webhooks", area="automation", tag=TAG,
        db=lambda: runtime.db, service=lambda: service,
        create_schema=WebhookCreateSchema(), update_schema=WebhookInSchema(), output_schema=output,
        idempotency=lambda: runtime.idempotency,
    ).register(bp, runtime.doc)
    DeliveryRoutes(runtime, service).register(bp)
