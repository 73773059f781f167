"""Where mail events travel (crm_events.envelope.topic_for: crm.<service>.<aggregate>)."""

from __future__ import annotations

from crm_events.envelope import topic_for
from crm_mail.requests import SEND_REQUESTED
from crm_runtime.catalog import SERVICES

# Everything the mail service announces (sent, deferred, failed, bounced, suppressed, received).
MAIL_EVENTS_TOPIC = topic_for("mail", "crm.mail.received")


def send_request_topics() -> list[str]:
    """Every other service's outbox topic for send requests (mail queues its own messages directly)."""
    return sorted(topic_for(s.name, SEND_REQUESTED) for s in SERVICES if s.name != "mail")
