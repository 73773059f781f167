"""The customer portal's OpenAPI operations (its routes are in tickets.api.portal)."""

from __future__ import annotations

from crm_runtime.service import ServiceRuntime
from tickets.schemas.portal import (
    PortalLoginSchema,
    PortalMessageSchema,
    PortalReplySchema,
    PortalSessionSchema,
    PortalTicketCreateSchema,
    PortalTicketSchema,
    SessionExchangeSchema,
)

TAG = "Customer portal"
DOC_PREFIX = "/portal/{mailbox}"


def document(runtime: ServiceRuntime) -> None:
    doc = runtime.doc
    mailbox = {"name": "mailbox", "in": "path", "required": True, "schema": {"type": "string"}}
    number = {"name": "number", "in": "path", "required": True, "schema": {"type": "integer"}}
    session_note = ("open path; the portal session is the credential (cookie `crm_portal`, "
                    "`Authorization: Bearer cps_...` or `X-Portal-Session`)")
    doc.operation(f"{DOC_PREFIX}/login", "post", summary="Ask for a sign-in link by email: always 202, whether or "
                  "not the address is known (limited per address)", tag=TAG, request=PortalLoginSchema, status=202,
                  parameters=[mailbox], extra_responses={404: "No such portal", 422: "Not an email address"})
    doc.operation(f"{DOC_PREFIX}/session/{{token}}", "get", summary="The emailed sign-in link: says whether it "
                  "still works (a browser gets a page whose button signs in); never signs in itself", tag=TAG,
                  parameters=[mailbox, {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}],
                  extra_responses={404: "No such link", 410: "Used or expired"})
    doc.operation(f"{DOC_PREFIX}/session", "post", summary="Sign in with the link's token (once): the session, also "
                  "set as an HttpOnly SameSite=Strict cookie scoped to the portal", tag=TAG,
                  request=SessionExchangeSchema, response=PortalSessionSchema, status=201, parameters=[mailbox],
                  extra_responses={404: "No such link", 410: "Used or expired"})
    doc.operation(f"{DOC_PREFIX}/session", "get", summary=f"Who is signed in ({session_note})", tag=TAG,
                  response=PortalSessionSchema, parameters=[mailbox])
    doc.operation(f"{DOC_PREFIX}/session", "delete", summary="Sign out: the session stops working", tag=TAG,
                  status=204, parameters=[mailbox])
    doc.operation(f"{DOC_PREFIX}/tickets", "get", summary=f"The customer's tickets, and their company's where the "
                  f"tenant allows it ({session_note})", tag=TAG, response=PortalTicketSchema, list_of=True,
                  parameters=[mailbox, {"name": "status", "in": "query", "schema": {"type": "string"}},
                              {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                              {"name": "cursor", "in": "query", "schema": {"type": "string"}}])
    doc.operation(f"{DOC_PREFIX}/tickets", "post", summary="Open a ticket (channel portal); attachments as base64 "
                  "JSON or multipart `attachments` files", tag=TAG, request=PortalTicketCreateSchema,
                  response=PortalTicketSchema, status=201, parameters=[mailbox],
                  extra_responses={413: "Attachments too large", 422: "Invalid fields"})
    doc.operation(f"{DOC_PREFIX}/tickets/{{number}}", "get", summary="One of the customer's tickets with its public "
                  "conversation (replies and customer messages; never internal notes)", tag=TAG,
                  response=PortalTicketSchema, parameters=[mailbox, number], extra_responses={404: "No such ticket"})
    doc.operation(f"{DOC_PREFIX}/tickets/{{number}}/messages", "post", summary="Reply as the customer: reopens a "
                  "resolved ticket; on a closed one opens a new ticket linked to it", tag=TAG,
                  request=PortalReplySchema, response=PortalMessageSchema, status=201, parameters=[mailbox, number],
                  extra_responses={404: "No such ticket", 413: "Attachments too large"})
    doc.operation(f"{DOC_PREFIX}/tickets/{{number}}/attachments/{{id}}", "get", summary="A file attached in the "
                  "portal", tag=TAG, parameters=[mailbox, number,
                                                 {"name": "id", "in": "path", "required": True,
                                                  "schema": {"type": "string"}}],
                  response_content={"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}})
    doc.operation("/v1/portal/attachments/{id}", "get", summary="A file a customer attached in the portal", tag=TAG,
                  scope="tickets:read",
                  parameters=[{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                  response_content={"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}})

