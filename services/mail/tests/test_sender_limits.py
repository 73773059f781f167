"""The sender verification link goes from the platform to any address a tenant names: bounded."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from crm_core.context import tenant_context
from crm_testing.apps import ServiceHarness
from mail.models import Sender
from mail.service.senders import MAX_AWAITING, MAX_LINKS_PER_DAY

BASE = "/v1/mail/senders"


def test_unconfirmed_senders_and_new_ones_per_day_are_capped(mail_service: ServiceHarness) -> None:
    h = mail_service.headers("a")
    ids = []
    for n in range(MAX_AWAITING):
        created = mail_service.client.post(BASE, json={"address": f"s{n}@example.com"}, headers=h)
        assert created.status_code == 201, created.get_json()
        ids.append(created.get_json()["id"])
    over = mail_service.client.post(BASE, json={"address": "one-more@example.com"}, headers=h)
    assert over.status_code == 429 and "address" in over.get_json()["errors"]
    # Another tenant has its own allowance.
    assert mail_service.client.post(BASE, json={"address": "s0@example.com"}, headers=mail_service.headers("b")).status_code == 201
    # Deleting unconfirmed ones makes room, but not for more links than the day allows.
    for sender_id in ids:
        assert mail_service.client.delete(f"{BASE}/{sender_id}", headers=h).status_code == 204
    for n in range(MAX_AWAITING, MAX_LINKS_PER_DAY):
        created = mail_service.client.post(BASE, json={"address": f"t{n}@example.com"}, headers=h)
        assert created.status_code == 201, created.get_json()
        assert mail_service.client.delete(f"{BASE}/{created.get_json()['id']}", headers=h).status_code == 204
    daily = mail_service.client.post(BASE, json={"address": "daily@example.com"}, headers=h)
    assert daily.status_code == 429 and daily.headers["Retry-After"] == "3600"


def test_a_link_is_resent_at_most_once_a_minute(mail_service: ServiceHarness) -> None:
    h = mail_service.headers("a")
    sender = mail_service.client.post(BASE, json={"address": "sales@example.com"}, headers=h).get_json()
    too_soon = mail_service.client.post(f"{BASE}/{sender['id']}/resend", headers=h)
    assert too_soon.status_code == 429 and too_soon.headers["Retry-After"] == "60"
    with tenant_context(mail_service.tenant("a")), mail_service.db.transaction() as session:  # a minute later
        row = session.scalars(select(Sender)).one()
        row.verification_expires_at = row.verification_expires_at - dt.timedelta(minutes=2)
    assert mail_service.client.post(f"{BASE}/{sender['id']}/resend", headers=h).status_code == 202


def test_no_dkim_key_for_the_platforms_own_domains(mail_service: ServiceHarness) -> None:
    """The platform sends its own mail (signup, links) from these: a tenant's key would make it fail."""
    h = mail_service.headers("a")
    for domain in ("inbound.localhost", "INBOUND.localhost."):
        refused = mail_service.client.post("/v1/mail/dkim-keys", json={"domain": domain, "selector": "crm"}, headers=h)
        assert refused.status_code == 422 and "domain" in refused.get_json()["errors"], refused.get_json()
    made = mail_service.client.post("/v1/mail/dkim-keys", json={"domain": "acme.example", "selector": "crm"}, headers=h)
    assert made.status_code == 201
