"""Routes of the routing area: /v1/teams (+ members, availability) and /v1/routing-rules.

Teams and rules are tenant configuration: writes need an owner or admin. An agent may switch
their own availability (PATCH their member row with only `available`, or the availability route).
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, request
from marshmallow import Schema, fields, validate

from crm_core import context
from crm_core.errors import BadRequest, NotFound
from crm_http.auth import require_admin_access, require_scope
from crm_http.parsing import if_match_version, load, parse_uuid
from crm_http.resource import RecordRoutes, json_response
from crm_runtime.service import ServiceRuntime
from tickets.models.routing import RoutingRule, Team
from tickets.schemas.routing import (
    REASSIGN,
    REASSIGN_DOC,
    MemberCreateSchema,
    MemberPatchSchema,
    MemberSchema,
    RuleCreateSchema,
    RuleInSchema,
    RuleSchema,
    TeamCreateSchema,
    TeamSchema,
    TeamUpdateSchema,
)
from tickets.service.desk import Desk
from tickets.service.routing import RuleService, TeamService

AREA, TAG = "tickets", "Teams"


class AvailabilitySchema(Schema):
    available = fields.Boolean(required=True)
    reassign = fields.String(validate=validate.OneOf(REASSIGN), metadata={"description": REASSIGN_DOC})


def _reassign_param() -> str:
    value = request.args.get("reassign") or "open"
    if value not in REASSIGN:
        raise BadRequest(f"Query parameter 'reassign' must be one of: {', '.join(REASSIGN)}.",
                         errors={"reassign": [f"Unknown value {value!r}."]})
    return value


def _require_member_write(user_id: uuid.UUID, values: dict[str, Any] | None) -> None:
    """Admins change any member; an agent only their own availability."""
    principal = context.current_principal()
    own = principal is not None and principal.user_id == user_id
    if own and values is not None and set(values) <= {"available", "reassign"}:
        return
    require_admin_access()


def _member(team: Team, user_id: uuid.UUID) -> dict[str, Any]:
    found = next((m for m in team.members if m.user_id == user_id), None)
    if found is None:
        raise NotFound(f"User {user_id} is not a member of team {team.id}.")
    return MemberSchema().dump(found)


def register(bp: Blueprint, runtime: ServiceRuntime, desk: Desk) -> None:
    """Adds the area's routes."""
    teams, rules = TeamService(desk), RuleService(desk)
    common: dict[str, Any] = {"area": AREA, "db": lambda: runtime.db, "idempotency": lambda: runtime.idempotency,
                              "admin_writes": True}
    RecordRoutes(collection="teams", tag=TAG, service=lambda: teams, create_schema=TeamCreateSchema(),
                 update_schema=TeamUpdateSchema(), output_schema=TeamSchema(), sortable={"name": Team.name},
                 **common).register(bp, runtime.doc)
    RecordRoutes(collection="routing-rules", tag="Routing rules", service=lambda: rules,
                 create_schema=RuleCreateSchema(), update_schema=RuleInSchema(), output_schema=RuleSchema(),
                 sortable={"position": RoutingRule.position, "name": RoutingRule.name}, default_sort="position",
                 **common).register(bp, runtime.doc)
    register_members(bp, runtime, teams)


def register_members(bp: Blueprint, runtime: ServiceRuntime, teams: TeamService) -> None:
    member_out, team_out = MemberSchema(), TeamSchema()
    base = "/v1/teams/<team_id>/members"

    def list_members(team_id: str) -> Response:
        require_scope(f"{AREA}:read")
        with runtime.db.transaction() as session:
            team = teams.get(session, parse_uuid(team_id, "team"))
            body = {"data": [member_out.dump(m) for m in team.members], "next_cursor": None}
        return json_response(body)

    def add_member(team_id: str) -> Response:
        require_scope(f"{AREA}:write")
        require_admin_access()
        values = load(MemberCreateSchema())
        tid, user = parse_uuid(team_id, "team"), values.pop("user_id")
        with runtime.db.transaction() as session:
            team = teams.set_member(session, tid, user, values, create=True, expected_version=if_match_version())
            body = _member(team, user)
        return json_response(body, 201, {"Location": f"/v1/teams/{tid}/members/{user}"})

    def get_member(team_id: str, user_id: str) -> Response:
        require_scope(f"{AREA}:read")
        with runtime.db.transaction() as session:
            team = teams.get(session, parse_uuid(team_id, "team"))
            body = _member(team, parse_uuid(user_id, "member"))
        return json_response(body)

    def patch_member(team_id: str, user_id: str) -> Response:
        require_scope(f"{AREA}:write")
        tid, user = parse_uuid(team_id, "team"), parse_uuid(user_id, "member")
        values = load(MemberPatchSchema(), partial=True)
        _require_member_write(user, values)
        reassign = values.pop("reassign", None) or "open"
        with runtime.db.transaction() as session:
            team = teams.set_member(session, tid, user, values, reassign=reassign, expected_version=if_match_version())
            body = _member(team, user)
        return json_response(body)

    def delete_member(team_id: str, user_id: str) -> Response:
        tid, user = parse_uuid(team_id, "team"), parse_uuid(user_id, "member")
        require_scope(f"{AREA}:write")
        require_admin_access()
        reassign = _reassign_param()
        with runtime.db.transaction() as session:
            teams.set_member(session, tid, user, None, reassign=reassign, expected_version=if_match_version())
        return Response(status=204)

    def availability(user_id: str) -> Response:
        require_scope(f"{AREA}:write")
        user = parse_uuid(user_id, "user")
        values = load(AvailabilitySchema())
        _require_member_write(user, values)
        with runtime.db.transaction() as session:
            changed = teams.set_availability(session, user, values["available"], values.get("reassign") or "open")
            body = {"data": [team_out.dump(t) for t in changed], "next_cursor": None}
        return json_response(body)

    bp.add_url_rule(base, "team_members_list", list_members, methods=["GET"])
    bp.add_url_rule(base, "team_members_create", add_member, methods=["POST"])
    bp.add_url_rule(f"{base}/<user_id>", "team_members_get", get_member, methods=["GET"])
    bp.add_url_rule(f"{base}/<user_id>", "team_members_update", patch_member, methods=["PATCH"])
    bp.add_url_rule(f"{base}/<user_id>", "team_members_delete", delete_member, methods=["DELETE"])
    bp.add_url_rule("/v1/teams/availability/<user_id>", "team_availability", availability, methods=["PUT"])

    doc, read, write = runtime.doc, f"{AREA}:read", f"{AREA}:write"
    team_param = {"name": "team_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
    user_param = {"name": "user_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
    if_match = {"name": "If-Match", "in": "header", "schema": {"type": "string"}, "description": "The team's version."}
    path, item = "/v1/teams/{team_id}/members", "/v1/teams/{team_id}/members/{user_id}"
    doc.operation(path, "get", summary="List a team's members", tag=TAG, scope=read, response=MemberSchema,
                  list_of=True, parameters=[team_param], extra_responses={404: "Not found"})
    doc.operation(path, "post", summary="Add a member (admins); their open tickets of the team are counted",
                  tag=TAG, scope=write, request=MemberCreateSchema, response=MemberSchema, status=201,
                  parameters=[team_param, if_match],
                  extra_responses={404: "Not found", 409: "Already a member", 412: "Stale If-Match", 422: "Invalid fields"})
    doc.operation(item, "get", summary="Get a member", tag=TAG, scope=read, response=MemberSchema,
                  parameters=[team_param, user_param], extra_responses={404: "Not found"})
    doc.operation(item, "patch", summary="Change a member's capacity or availability (an agent may switch their own "
                                         "availability). Going unavailable hands their tickets on (see reassign); "
                                         "coming back or more capacity takes the team's waiting tickets.",
                  tag=TAG, scope=write, request=MemberPatchSchema, response=MemberSchema,
                  parameters=[team_param, user_param, if_match],
                  extra_responses={404: "Not found", 412: "Stale If-Match", 422: "Invalid fields"})
    doc.operation(item, "delete", summary="Remove a member (admins); their tickets are handed on (see reassign)",
                  tag=TAG, scope=write, status=204,
                  parameters=[team_param, user_param, if_match,
                              {"name": "reassign", "in": "query", "description": REASSIGN_DOC,
                               "schema": {"type": "string", "enum": list(REASSIGN), "default": "open"}}],
                  extra_responses={404: "Not found", 412: "Stale If-Match"})
    doc.operation("/v1/teams/availability/{user_id}", "put",
                  summary="Set an agent's availability in every team they belong to (an agent may set their own)",
                  tag=TAG, scope=write, request=AvailabilitySchema, response=TeamSchema, list_of=True,
                  parameters=[user_param], extra_responses={404: "The user is in none of the teams", 422: "Invalid fields"})
