"""A tenant's inbound addresses: the mailbox made from crm.tenant.created, GET /v1/mail/addresses,
the raw-MIME webhook secret (admins; shown once; only its hash stored) and renaming the mailbox."""

from __future__ import annotations

import hashlib
import uuid

from inbound_fixtures import DOMAIN, Inbound
from inbound_helpers import as_bytes, plain
from sqlalchemy import select

from crm_events.envelope import Event, topic_for
from crm_events.log import OutgoingRecord, open_publisher
from crm_testing.apps import ServiceHarness, drain
from mail.models import Mailbox
from mail.service import mailboxes


def _tenant_created(svc: ServiceHarness, tenant: uuid.UUID, name: str) -> None:
    event = Event(type="crm.tenant.created", source="gateway", tenant_id=str(tenant), subject=str(tenant),
                  data={"id": str(tenant), "name": name})
    publisher = open_publisher(svc.settings)
    try:
        publisher.publish([OutgoingRecord(topic_for("gateway", event.type), str(tenant), event.to_json().encode(),
                                          {"event_id": event.id, "event_type": event.type})])
    finally:
        publisher.close()


def test_tenant_created_makes_a_mailbox_named_after_the_tenant(mail_service: ServiceHarness) -> None:
    first, second = mail_service.tenant("a"), mail_service.tenant("b")
    _tenant_created(mail_service, first, "Acme Corp")
    _tenant_created(mail_service, second, "ACME corp!")
    _tenant_created(mail_service, first, "Renamed Later")  # a repeat never renames
    runner = mail_service.consumer(mailboxes.TENANT_GROUP, [mailboxes.TENANT_TOPIC], mailboxes.tenant_handlers())
    try:
        drain(runner, max_polls=50)
    finally:
        runner.subscriber.close()
    with mail_service.db.transaction() as session:
        names = {b.tenant_id: b.name for b in session.scalars(select(Mailbox))}
    assert names[first] == "acme-corp"
    assert names[second].startswith("acme-corp-") and len(names[second]) == len("acme-corp-") + 4


def test_addresses_shape(inbound: Inbound) -> None:
    box = inbound.mailbox("a", "Acme")
    body = inbound.get("a", "/v1/mail/addresses")
    assert body["mailbox"] == box and body["domain"] == DOMAIN
    assert body["addresses"] == {"default": f"{box}@{DOMAIN}", "support": f"{box}+support@{DOMAIN}",
                                 "log": f"{box}+log@{DOMAIN}"}
    assert body["reply_token_format"] == f"{box}+t-<token>@{DOMAIN}"
    assert body["deal_log_format"] == f"{box}+deal-<deal number>@{DOMAIN}"
    assert body["inbound_webhook"]["url_template"].endswith("/inbound/mime/<secret>")
    inbound.get("a", "/v1/mail/addresses", 403, scopes=("contacts:read",))


def test_a_first_read_makes_the_mailbox(inbound: Inbound) -> None:
    tenant = uuid.uuid4()
    body = inbound.get(tenant, "/v1/mail/addresses")
    assert body["mailbox"] == f"crm-{tenant.hex[:8]}"
    assert inbound.get(tenant, "/v1/mail/addresses")["mailbox"] == body["mailbox"]


def test_secret_made_by_admins_shown_once_stored_hashed(inbound: Inbound) -> None:
    inbound.mailbox("a", "Acme")
    client, path = inbound.svc.client, "/v1/mail/addresses/inbound-secret"
    member = client.post(path, headers=inbound.svc.headers("a", roles=("member",)))
    assert member.status_code == 403
    made = client.post(path, headers=inbound.svc.headers("a"))
    assert made.status_code == 201, made.get_data(as_text=True)
    secret = made.get_json()["secret"]
    assert made.get_json()["url"].endswith(f"/inbound/mime/{secret}") and len(secret) >= 32
    listed = inbound.get("a", "/v1/mail/addresses")
    assert listed["inbound_webhook"]["configured"] is True and listed["inbound_webhook"]["rotated_at"]
    assert secret not in str(listed)
    with inbound.svc.db.transaction() as session:
        box = session.scalars(select(Mailbox).where(Mailbox.tenant_id == inbound.svc.tenant("a"))).one()
        assert box.inbound_secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    # B's rotation is B's alone.
    inbound.mailbox("b", "Bolt")
    assert client.post(path, headers=inbound.svc.headers("b")).status_code == 201
    with inbound.svc.db.transaction() as session:
        assert mailboxes.by_secret(session, secret).tenant_id == inbound.svc.tenant("a")
    assert inbound.get("b", "/v1/mail/addresses")["mailbox"] != listed["mailbox"]


def test_rename(inbound: Inbound) -> None:
    old = inbound.mailbox("a", "Acme")
    taken = inbound.mailbox("b", "Bolt")
    client = inbound.svc.client

    def patch(name: object, roles: tuple[str, ...] = ("owner",)) -> object:
        return client.patch("/v1/mail/addresses", json={"mailbox": name}, headers=inbound.svc.headers("a", roles=roles))

    assert patch("new-name-1", ("member",)).status_code == 403
    for bad in ("ab", "Has Space", "postmaster", "-x-", 5):
        resp = patch(bad)
        assert resp.status_code == 422 and "mailbox" in resp.get_json()["errors"], bad
    resp = patch(taken)
    assert resp.status_code == 409 and resp.get_json()["errors"] == {"mailbox": ["Taken."]}
    new = f"acme-{uuid.uuid4().hex[:6]}"
    resp = patch(new)
    assert resp.status_code == 200 and resp.get_json()["addresses"]["default"] == f"{new}@{DOMAIN}"
    with inbound.smtp() as smtp:
        smtp.mail("x@example.com")
        assert smtp.rcpt(f"{new}+support@{DOMAIN}")[0] == 250
        assert smtp.rcpt(f"{old}@{DOMAIN}")[0] == 550
    assert inbound.send(as_bytes(plain(f"{new}@{DOMAIN}")), [f"{new}@{DOMAIN}"]) == {}
    assert patch(old).status_code == 200  # the old name is free again (for this tenant too)

