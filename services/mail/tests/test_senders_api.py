"""/v1/mail/senders with the mailed verification link, /v1/mail/dkim-keys; isolation."""

from __future__ import annotations

import email
import email.policy
import re
import uuid

from send_helpers import drain, queue, worker
from sqlalchemy import select

from crm_core.context import public_principal, tenant_context
from crm_core.internal_token import HEADER
from crm_testing.apps import ServiceHarness
from crm_testing.smtp import SmtpSink
from mail.models import MailMessage

BASE = "/v1/mail/senders"
KEYS = "/v1/mail/dkim-keys"


def public(svc: ServiceHarness, accept: str = "application/json") -> dict[str, str]:
    return {HEADER: svc.signer.mint(public_principal(), "mail"), "Accept": accept}


def link_in(sink: SmtpSink) -> str:
    sink.wait_for(len(sink.messages) or 1)
    msg = email.message_from_bytes(sink.messages[-1].data, policy=email.policy.default)
    text = msg.get_body(("plain",)).get_content()
    return re.search(r"(http://\S+/v1/mail/verify/sender\?token=\S+)", text).group(1)


def test_a_sender_is_verified_by_the_mailed_link_then_sends_as_the_default(relayed: ServiceHarness, sink: SmtpSink) -> None:
    h = relayed.headers("a")
    created = relayed.client.post(BASE, json={"address": "Sales@Example.com", "name": "Ventes"}, headers=h)
    assert created.status_code == 201, created.get_json()
    sender = created.get_json()
    assert sender["address"] == "sales@example.com" and sender["verified"] is False
    drain(worker(relayed))
    assert sink.messages[-1].rcpt_tos == ["sales@example.com"]
    link = link_in(sink)
    token = link.split("token=")[1]
    assert token.startswith(relayed.tenant("a").hex + ".")
    # Not verified yet: not the default, and requests naming it fall back to the platform's sender.
    assert relayed.client.patch(f"{BASE}/{sender['id']}", json={"is_default": True}, headers=h).status_code == 409
    page = relayed.client.get(f"/v1/mail/verify/sender?token={token}", headers=public(relayed, "text/html"))
    assert page.status_code == 200 and page.mimetype == "text/html" and b"sales@example.com" in page.data
    assert b"<form method=post" in page.data  # a GET (a link scanner's) confirms nothing
    assert relayed.client.get(f"{BASE}/{sender['id']}", headers=h).get_json()["verified"] is False
    done = relayed.client.post("/v1/mail/verify/sender", data={"token": token}, headers=public(relayed, "text/html"))
    assert done.status_code == 200 and b"is confirmed" in done.data
    again = relayed.client.post(f"/v1/mail/verify/sender?token={token}", headers=public(relayed))
    assert again.status_code == 404  # used
    got = relayed.client.get(f"{BASE}/{sender['id']}", headers=h).get_json()
    assert got["verified"] is True
    assert relayed.client.patch(f"{BASE}/{sender['id']}", json={"is_default": True, "name": "Équipe"},
                                headers=h).get_json()["is_default"] is True
    mid = queue(relayed, relayed.tenant("a"), to=["c@example.org"])
    drain(worker(relayed))
    with tenant_context(relayed.tenant("a")), relayed.db.transaction() as session:
        m = session.scalars(select(MailMessage).where(MailMessage.id == mid)).one()
        assert (m.from_address, m.from_name, str(m.sender_id)) == ("sales@example.com", "Équipe", sender["id"])
    assert relayed.client.post(f"{BASE}/{sender['id']}/resend", headers=h).status_code == 409
    assert relayed.client.post(BASE, json={"address": "sales@example.com"}, headers=h).status_code == 409
    assert relayed.client.post(BASE, json={"address": "nope"}, headers=h).status_code == 422
    assert relayed.client.delete(f"{BASE}/{sender['id']}", headers=h).status_code == 204
    assert relayed.client.get(f"{BASE}/{sender['id']}", headers=h).status_code == 404


def test_an_unverified_sender_id_falls_back_to_the_platform_sender(relayed: ServiceHarness) -> None:
    h = relayed.headers("a")
    sender = relayed.client.post(BASE, json={"address": "sales@example.com"}, headers=h).get_json()
    mid = queue(relayed, relayed.tenant("a"), to=["c@example.org"], sender_id=uuid.UUID(sender["id"]))
    with tenant_context(relayed.tenant("a")), relayed.db.transaction() as session:
        m = session.scalars(select(MailMessage).where(MailMessage.id == mid)).one()
        assert m.from_address == "no-reply@inbound.localhost" and m.sender_id is None


def test_tenant_b_cannot_see_change_delete_or_verify_a_sender_of_a(relayed: ServiceHarness, sink: SmtpSink) -> None:
    ha, hb = relayed.headers("a"), relayed.headers("b")
    sender = relayed.client.post(BASE, json={"address": "sales@example.com"}, headers=ha).get_json()
    drain(worker(relayed))
    token = link_in(sink).split("token=")[1]
    secret = token.split(".", 1)[1]
    assert relayed.client.get(BASE, headers=hb).get_json()["data"] == []
    for method in ("get", "patch", "delete"):
        resp = getattr(relayed.client, method)(f"{BASE}/{sender['id']}", json={"name": "x"}, headers=hb)
        assert resp.status_code == 404, method
    assert relayed.client.post(f"{BASE}/{sender['id']}/resend", headers=hb).status_code == 404
    # The secret under B's tenant id (a forged token) verifies nothing, in either tenant.
    forged = f"{relayed.tenant('b').hex}.{secret}"
    assert relayed.client.get(f"/v1/mail/verify/sender?token={forged}", headers=public(relayed)).status_code == 404
    assert relayed.client.post(f"/v1/mail/verify/sender?token={forged}", headers=public(relayed)).status_code == 404
    assert relayed.client.get("/v1/mail/verify/sender?token=garbage", headers=public(relayed)).status_code == 404
    assert relayed.client.get(f"{BASE}/{sender['id']}", headers=ha).get_json()["verified"] is False
    # A's own link still works.
    assert relayed.client.get(f"/v1/mail/verify/sender?token={token}", headers=public(relayed)).status_code == 200
    assert relayed.client.post(f"/v1/mail/verify/sender?token={token}", headers=public(relayed)).status_code == 200
    assert relayed.client.get(f"{BASE}/{sender['id']}", headers=ha).get_json()["verified"] is True


def test_dkim_keys_are_admin_only_never_show_the_private_key_and_stay_in_their_tenant(relayed: ServiceHarness) -> None:
    ha, hb = relayed.headers("a"), relayed.headers("b")
    made = relayed.client.post(KEYS, json={"domain": "Example.com", "selector": "crm1"}, headers=ha)
    assert made.status_code == 201, made.get_json()
    key = made.get_json()
    assert key["dns_record"]["name"] == "crm1._domainkey.example.com"
    assert key["dns_record"]["value"].startswith("v=DKIM1; k=rsa; p=MII")
    assert "PRIVATE" not in made.get_data(as_text=True) and "private_key" not in key
    assert relayed.client.post(KEYS, json={"domain": "example.com"}, headers=ha).status_code == 409
    assert relayed.client.post(KEYS, json={"domain": "not a domain"}, headers=ha).status_code == 422
    member = relayed.headers("a", roles=("member",))
    assert relayed.client.get(KEYS, headers=member).status_code == 403
    assert relayed.client.post(KEYS, json={"domain": "other.com"}, headers=member).status_code == 403
    assert [k["id"] for k in relayed.client.get(KEYS, headers=ha).get_json()["data"]] == [key["id"]]
    assert relayed.client.get(KEYS, headers=hb).get_json()["data"] == []
    assert relayed.client.get(f"{KEYS}/{key['id']}", headers=hb).status_code == 404
    assert relayed.client.delete(f"{KEYS}/{key['id']}", headers=hb).status_code == 404
    assert relayed.client.post(KEYS, json={"domain": "example.com"}, headers=hb).status_code == 201  # B's own
    assert relayed.client.delete(f"{KEYS}/{key['id']}", headers=ha).status_code == 204
