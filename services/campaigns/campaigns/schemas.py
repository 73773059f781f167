"""Campaign validation in, serialisation out."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, post_load, validate

from campaigns.models import STATUSES
from crm_http.fields import RecordSchema, TrimmedSchema

NAME = validate.Length(min=1, max=200)
SINGLE_LINE = ("name", "subject", "from_name", "from_email")  # trimmed; body is kept verbatim


class CampaignInSchema(TrimmedSchema):
    trim_fields = frozenset(SINGLE_LINE)
    name = fields.String(validate=NAME)
    subject = fields.String(validate=validate.Length(min=1, max=300), allow_none=True)
    # Generous but bounded: the 1 MiB body limit is the real cap.
    body = fields.String(validate=validate.Length(max=500_000), allow_none=True)
    status = fields.String(validate=validate.OneOf(STATUSES, error="Only 'draft' is accepted: sending is not available yet."))
    from_name = fields.String(validate=NAME, allow_none=True)
    from_email = fields.Email(validate=validate.Length(max=320), allow_none=True)


    @post_load
    def normalise(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if data.get("from_email"):
            data["from_email"] = data["from_email"].lower()
        return data


class CampaignCreateSchema(CampaignInSchema):
    name = fields.String(required=True, validate=NAME)


class CampaignSchema(RecordSchema, CampaignInSchema):
    pass
