"""The mail service's settings, read once from the environment (crm_core.settings.Settings.get)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crm_core.settings import Settings
from crm_mail import requests

MiB = 1024 * 1024


@dataclass(frozen=True)
class MailSettings:
    # Sending. No smtp_url: every message is written to the Maildir instead (the embedded default).
    smtp_url: str | None
    maildir: Path
    default_from: str  # the platform's sender: "Name <address>"
    message_id_domain: str  # right-hand side of the Message-IDs the platform makes
    connections: int  # SMTP connections kept open to the relay
    rate_per_second: float  # overall; 0 = no limit
    tenant_rate_per_second: float  # per tenant; 0 = no limit
    retry_base_seconds: float
    max_attempts: int
    smtp_timeout: float
    # Receiving.
    inbound_domain: str
    inbound_smtp_host: str
    inbound_smtp_port: int
    max_message_bytes: int
    # Links in verification mail point here (the gateway's public address).
    public_url: str
    # Sending, continued: the relay's CA bundle (a private relay's self-signed certificate), the
    # messages one round of the send loop claims, the longest wait between two attempts.
    smtp_ca_file: str | None = None
    send_batch: int = 200
    retry_max_seconds: float = 3600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> MailSettings:
        def number(name: str, default: str) -> float:
            return float(settings.get(name, default) or default)

        inbound_domain = requests.inbound_domain(settings)
        return cls(
            smtp_url=settings.get("CRM_SMTP_URL"),
            maildir=Path(settings.get("CRM_MAIL_MAILDIR") or settings.var_dir / "mail" / "sent"),
            default_from=settings.get("CRM_MAIL_DEFAULT_FROM") or f"CRM <no-reply@{inbound_domain}>",
            # The same rule as crm_mail.requests: requesters predict the Message-ID (new_message_id).
            message_id_domain=requests.message_id_domain(settings),
            connections=max(1, int(number("CRM_MAIL_CONNECTIONS", "4"))),
            rate_per_second=max(0.0, number("CRM_MAIL_RATE_PER_SECOND", "0")),
            tenant_rate_per_second=max(0.0, number("CRM_MAIL_TENANT_RATE_PER_SECOND", "0")),
            retry_base_seconds=max(0.0, number("CRM_MAIL_RETRY_BASE_SECONDS", "30")),
            max_attempts=max(1, int(number("CRM_MAIL_MAX_ATTEMPTS", "12"))),
            smtp_timeout=max(1.0, number("CRM_MAIL_SMTP_TIMEOUT_SECONDS", "30")),
            inbound_domain=inbound_domain,
            inbound_smtp_host=settings.get("CRM_INBOUND_SMTP_HOST", "127.0.0.1") or "127.0.0.1",
            inbound_smtp_port=int(number("CRM_INBOUND_SMTP_PORT", "2525")),
            max_message_bytes=int(number("CRM_MAIL_MAX_MESSAGE_MIB", "25") * MiB),
            public_url=(settings.get("CRM_PUBLIC_URL", "http://127.0.0.1:8080") or "").rstrip("/"),
            smtp_ca_file=settings.get("CRM_SMTP_CA_FILE") or None,
            send_batch=max(1, int(number("CRM_MAIL_SEND_BATCH", "200"))),
            retry_max_seconds=max(0.0, number("CRM_MAIL_RETRY_MAX_SECONDS", "3600")),
        )
