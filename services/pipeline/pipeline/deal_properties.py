"""Custom fields of deals: definitions at /v1/properties/deals, the same types, checks and filter
behaviour as contacts' (crm_properties). Definitions are read once per transaction (a deal write
or list reads them once, however many deals it touches)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint
from sqlalchemy.orm import Session

from crm_properties import ActiveDefinitions, check_key, merge_values, visible_values
from crm_properties.routes import DefinitionService, DefinitionStore, PropertyRoutes, register_property_routes
from crm_properties.schemas import PropertySchema
from crm_runtime.service import ServiceRuntime
from pipeline.models import Deal
from pipeline.models.sales import DealPropertyDefinition

STORE = DefinitionStore(DealPropertyDefinition, "deal")
# Deal fields a custom field may not shadow (besides the filter language's words), incl. the API's derived ones.
BUILTINS = frozenset(c.key for c in Deal.__table__.columns) | {"contacts", "rotten", "amount", "before_id", "after_id"}


def definitions(session: Session) -> dict[str, DealPropertyDefinition]:
    """All deal definitions by key (archived too), read once per transaction."""
    return STORE.all(session)


def active(session: Session) -> ActiveDefinitions:
    """The active definitions in the shape contacts' requests read (crm_properties.Definition)."""
    return STORE.active(session)


def active_definitions(session: Session) -> Mapping[str, Any]:
    return active(session).by_key


def visible(session: Session | None, values: dict[str, Any] | None) -> dict[str, Any]:
    """Values of active properties only: archiving hides values without deleting them."""
    if not values or session is None:
        return {}
    return visible_values(active_definitions(session), values)


def check_deal_values(session: Session, incoming: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    """Merge and check a deal's custom field values; 422 names `properties.<key>`."""
    return merge_values(active_definitions(session), "deal", incoming, current, None, collection="deals")


def register_deal_properties(bp: Blueprint, runtime: ServiceRuntime) -> None:
    """/v1/properties/deals: list, define, read, change (archive/restore), archive."""
    service = DefinitionService(runtime.outbox, PropertySchema().dump, STORE, aggregate="deal_property")
    register_property_routes(bp, runtime, PropertyRoutes(
        path="/v1/properties/deals", endpoint="deal_properties", area="pipeline", tag="Deal custom fields",
        label="deal", object_="deal", service=service, definitions=STORE.by_object,
        check_key=lambda object_, key: check_key(object_, key, BUILTINS)))
