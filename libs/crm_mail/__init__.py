"""Asking the mail service for a message, in every service's own outbox (ARCHITECTURE.md "Email").

No service but `mail` speaks SMTP or builds MIME: a use case calls `request_mail(...)` inside its
transaction, and `mail` renders, sends, retries and reports (`crm.mail.sent|deferred|failed|bounced`).
"""
