"""Campaign use cases: the generic record rules; only drafts exist until sending ships."""

from __future__ import annotations

from campaigns.models import Campaign
from crm_events.records import RecordService


class CampaignService(RecordService[Campaign]):
    model = Campaign
    aggregate = "campaign"
