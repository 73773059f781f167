"""Campaign use cases: the generic record rules; only drafts exist until sending ships."""

from __future__ import annotations

from crm_events.records import RecordService

from campaigns.models import Campaign


class CampaignService(RecordService[Campaign]):
    model = Campaign
    aggregate = "campaign"
