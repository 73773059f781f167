"""Standard Webhooks signatures: `v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

PREFIX = "whsec_"


def generate_secret() -> str:
    """`whsec_` + base64 of 32 random bytes."""
    return PREFIX + base64.b64encode(os.urandom(32)).decode()


def secret_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str | None, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Every header a delivery carries, signature included (none without a secret)."""
    out = {
        "Content-Type": "application/json",
        "User-Agent": "crm-webhooks/1",
        "Webhook-Id": message_id,
        "Webhook-Timestamp": str(timestamp),
    }
    if secret:
        out["Webhook-Signature"] = sign(secret, message_id, timestamp, body)
    return out
