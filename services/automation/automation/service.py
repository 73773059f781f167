"""Webhook subscription use cases: URL safety and the signing secret on top of the record rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from automation.models import WebhookSubscription
from automation.signing import generate_secret
from automation.urls import UnsafeUrl, check, parse
from crm_core.errors import validation_error
from crm_events.outbox import Outbox
from crm_events.records import RecordService

ALLOW_PRIVATE = "CRM_WEBHOOK_ALLOW_PRIVATE"


class WebhookService(RecordService[WebhookSubscription]):
    """Events crm.webhook.created/updated/deleted carry the output schema, which has no secret."""

    model = WebhookSubscription
    aggregate = "webhook"

    def __init__(self, outbox: Outbox, serialize: Callable[[WebhookSubscription], dict[str, Any]], *,
                 allow_private: bool = False) -> None:
        super().__init__(outbox, serialize)
        self.allow_private = allow_private

    def _check_url(self, url: str) -> None:
        try:
            if self.allow_private:
                parse(url)  # the operator allows any address; an unresolvable name fails at delivery
            else:
                check(url, allow_private=False)
        except UnsafeUrl as exc:
            raise validation_error({"url": [str(exc)]}) from exc

    def before_create(self, session: Session, values: dict[str, Any]) -> None:
        self._check_url(values["url"])
        values["secret"] = generate_secret()

    def before_update(self, session: Session, record: WebhookSubscription, values: dict[str, Any]) -> None:
        if "url" in values and values["url"] != record.url:
            self._check_url(values["url"])
