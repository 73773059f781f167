"""Duplicates, merge and unmerge for contacts and companies:

GET  /v1/{contacts|companies}/{id}/duplicates   ranked suggestions
POST /v1/{contacts|companies}/merge             {"primary_id", "secondary_id", "keep_from_secondary"?} -> the surviving record
POST /v1/{contacts|companies}/{id}/unmerge      {"merged_id"} within 30 days -> both records
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response
from marshmallow import Schema
from sqlalchemy.orm import Session

from contacts.schemas.companies import CompanySchema
from contacts.schemas.contacts import ContactSchema
from contacts.schemas.merge import (
    CompanyDuplicateSchema,
    CompanyUnmergeResultSchema,
    ContactDuplicateSchema,
    ContactUnmergeResultSchema,
    MergeRequestSchema,
    UnmergeRequestSchema,
)
from contacts.service.common import PartyService
from contacts.service.companies import CompanyService
from contacts.service.contacts import ContactService
from contacts.service.duplicates import Suggestion, company_duplicates, contact_duplicates
from contacts.service.merge import CompanyMerger, ContactMerger, Merger
from crm_http.auth import require_scope
from crm_http.idempotency import idempotent
from crm_http.parsing import load, parse_uuid
from crm_http.resource import json_response, record_response
from crm_runtime.service import ServiceRuntime

ID_PARAM = {"name": "record_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
KEY_PARAM = {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}}


def register(bp: Blueprint, runtime: ServiceRuntime) -> None:
    contacts = ContactService(runtime.outbox, ContactSchema().dump)
    companies = CompanyService(runtime.outbox, CompanySchema().dump)
    _Routes(runtime, "contacts", "contact", "Contacts", contacts, ContactMerger(contacts), contact_duplicates,
            ContactSchema, ContactDuplicateSchema, ContactUnmergeResultSchema).register(bp)
    _Routes(runtime, "companies", "company", "Companies", companies, CompanyMerger(companies, contacts),
            company_duplicates, CompanySchema, CompanyDuplicateSchema, CompanyUnmergeResultSchema).register(bp)


class _Routes:
    def __init__(self, runtime: ServiceRuntime, collection: str, singular: str, tag: str, service: PartyService[Any],
                 merger: Merger[Any], find: Callable[[Session, Any], list[Suggestion]], out: type[Schema],
                 suggestion: type[Schema], unmerged: type[Schema]) -> None:
        self.runtime, self.collection, self.singular, self.tag = runtime, collection, singular, tag
        self.service, self.merger, self.find = service, merger, find
        self.out, self.suggestion, self.unmerged = out, suggestion, unmerged
        self.merge_schema, self.unmerge_schema = MergeRequestSchema(), UnmergeRequestSchema()

    def duplicates(self, record_id: str) -> Response:
        require_scope("contacts:read")
        rid = parse_uuid(record_id, self.singular)
        with self.runtime.db.transaction() as session:
            record = self.service.get(session, rid)  # a merged-away id answers for its survivor
            data = [{self.singular: self.service.body(session, s.record), "score": s.score, "reasons": s.reasons}
                    for s in self.find(session, record)]
        return json_response({"data": data, "next_cursor": None})

    def merge(self) -> Response:
        require_scope("contacts:write")
        values = load(self.merge_schema)
        with self.runtime.db.transaction() as session:
            survivor = self.merger.merge(session, values["primary_id"], values["secondary_id"], values["keep_from_secondary"])
            body = self.service.body(session, survivor)
        return record_response(body)

    def unmerge(self, record_id: str) -> Response:
        require_scope("contacts:write")
        rid = parse_uuid(record_id, self.singular)
        values = load(self.unmerge_schema)
        with self.runtime.db.transaction() as session:
            primary, restored = self.merger.unmerge(session, rid, values["merged_id"])
            body = {"primary": self.service.body(session, primary), "restored": self.service.body(session, restored)}
        return json_response(body)

    def register(self, bp: Blueprint) -> None:
        base, name, doc = f"/v1/{self.collection}", self.collection, self.runtime.doc
        gone = {410: "Erased contact"} if self.singular == "contact" else {}
        once = idempotent(lambda: self.runtime.db, lambda: self.runtime.idempotency)
        bp.add_url_rule(f"{base}/<record_id>/duplicates", f"{name}_duplicates", self.duplicates, methods=["GET"])
        bp.add_url_rule(f"{base}/merge", f"{name}_merge", once(self.merge), methods=["POST"])
        bp.add_url_rule(f"{base}/<record_id>/unmerge", f"{name}_unmerge", once(self.unmerge), methods=["POST"])
        doc.operation(f"{base}/{{record_id}}/duplicates", "get", tag=self.tag, scope="contacts:read",
                      summary=f"Likely duplicates of a {self.singular}, best first (at most 20)",
                      response=self.suggestion, list_of=True, parameters=[ID_PARAM],
                      extra_responses={404: "Not found", **gone})
        doc.operation(f"{base}/merge", "post", tag=self.tag, scope="contacts:write",
                      summary=f"Merge a duplicate {self.singular} into another; answers the surviving record",
                      request=MergeRequestSchema, response=self.out, parameters=[KEY_PARAM],
                      extra_responses={404: "Unknown id", 409: "An id was merged away (`merged_into`), or changed concurrently",
                                       422: "Same record twice or invalid ids", **gone})
        doc.operation(f"{base}/{{record_id}}/unmerge", "post", tag=self.tag, scope="contacts:write",
                      summary=f"Undo a merge into this {self.singular} (within 30 days)",
                      request=UnmergeRequestSchema, response=self.unmerged, parameters=[ID_PARAM, KEY_PARAM],
                      extra_responses={404: "Not found", 409: "Undo window passed, or the email/domain is taken again",
                                       422: "Not merged into this record", **gone})
