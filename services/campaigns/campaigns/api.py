"""Campaigns routes: /v1/campaigns."""

from __future__ import annotations

from flask import Blueprint

from campaigns.models import Campaign
from campaigns.schemas import CampaignCreateSchema, CampaignInSchema, CampaignSchema
from campaigns.service import CampaignService
from crm_http.resource import RecordRoutes
from crm_runtime.service import ServiceRuntime


def register(bp: Blueprint, runtime: ServiceRuntime) -> None:
    output = CampaignSchema()
    service = CampaignService(runtime.outbox, output.dump)
    RecordRoutes(
        collection="campaigns", area="campaigns", tag="Campaigns",
        db=lambda: runtime.db, service=lambda: service,
        create_schema=CampaignCreateSchema(), update_schema=CampaignInSchema(), output_schema=output,
        idempotency=lambda: runtime.idempotency,
        sortable={"name": Campaign.name},
    ).register(bp, runtime.doc)
