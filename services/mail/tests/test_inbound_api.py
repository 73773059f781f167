"""The raw-MIME webhook (POST /inbound/mime/{secret}, called under the public principal the gateway
forwards open paths with) and the read API of stored inbound mail, with tenant isolation."""

from __future__ import annotations

import uuid

import pytest
from inbound_fixtures import DOMAIN, Inbound
from inbound_helpers import as_bytes, plain, with_attachment

pytestmark = pytest.mark.integration
SECRET_PATH = "/v1/mail/addresses/inbound-secret"


def _secret(inbound: Inbound, tenant: str) -> str:
    resp = inbound.svc.client.post(SECRET_PATH, headers=inbound.svc.headers(tenant))
    assert resp.status_code == 201
    return resp.get_json()["secret"]


def _post(inbound: Inbound, secret: str, raw: bytes, content_type: str = "message/rfc822") -> object:
    return inbound.svc.client.post(f"/inbound/mime/{secret}", data=raw, content_type=content_type,
                                   headers=inbound.public_headers())


def test_webhook_good_unknown_and_rotated_secret(inbound: Inbound) -> None:
    box = inbound.mailbox("a", "Acme")
    secret = _secret(inbound, "a")
    msg = with_attachment(f"Acme <{box}+support@{DOMAIN}>")
    resp = _post(inbound, secret, as_bytes(msg))
    assert resp.status_code == 202, resp.get_data(as_text=True)
    body = resp.get_json()
    assert (body["mailbox"], body["tag"], body["kind"]) == (box, "support", "message")
    stored = inbound.get("a", f"/v1/mail/inbound/{body['id']}")
    assert stored["subject"] == msg["Subject"] and stored["attachments"][0]["filename"] == "Angebot Zoë.pdf"
    unknown = _post(inbound, "no-such-secret", as_bytes(msg))
    assert unknown.status_code == 404 and unknown.mimetype == "application/problem+json"
    newer = _secret(inbound, "a")
    assert _post(inbound, secret, as_bytes(msg)).status_code == 404  # rotated away
    assert _post(inbound, newer, as_bytes(plain(f"{box}@{DOMAIN}")), "text/plain").status_code == 202


def test_webhook_limits(inbound: Inbound) -> None:
    inbound.mailbox("a", "Acme")
    secret = _secret(inbound, "a")
    big = b"Subject: big\r\n\r\n" + b"x" * (inbound.settings.max_message_bytes + 1)
    resp = _post(inbound, secret, big)
    assert resp.status_code == 413 and resp.mimetype == "application/problem+json"
    assert _post(inbound, secret, b"Subject: x\r\n\r\nhi", "application/json").status_code == 415
    assert _post(inbound, secret, b"  ").status_code == 400


def test_webhook_stays_in_the_secrets_tenant(inbound: Inbound) -> None:
    a, b = inbound.mailbox("a", "Acme"), inbound.mailbox("b", "Bolt")
    secret_a = _secret(inbound, "a")
    subject = f"for-b-{uuid.uuid4().hex[:6]}"
    # Addressed (in headers) to B's mailbox only, posted with A's secret: A's, untagged, never B's.
    resp = _post(inbound, secret_a, as_bytes(plain(f"{b}+support@{DOMAIN}", subject=subject,
                                                   Delivered_To=f"{b}+log@{DOMAIN}")))
    assert resp.status_code == 202
    assert (resp.get_json()["mailbox"], resp.get_json()["tag"]) == (a, None)
    assert any(m["subject"] == subject for m in inbound.get("a", "/v1/mail/inbound?limit=200")["data"])
    assert not any(m["subject"] == subject for m in inbound.get("b", "/v1/mail/inbound?limit=200")["data"])


def test_list_filters_and_cursor(inbound: Inbound) -> None:
    box = inbound.mailbox("c", "Cargo")
    for i in range(3):
        inbound.send(as_bytes(plain(f"{box}+support@{DOMAIN}", subject=f"s{i}")), [f"{box}+support@{DOMAIN}"])
    inbound.send(as_bytes(plain(f"{box}@{DOMAIN}", subject="ooo", Auto_Submitted="auto-replied")), [f"{box}@{DOMAIN}"])
    page = inbound.get("c", "/v1/mail/inbound?limit=2")
    assert len(page["data"]) == 2 and page["next_cursor"]
    rest = inbound.get("c", f"/v1/mail/inbound?limit=2&cursor={page['next_cursor']}")
    assert len(rest["data"]) == 2 and rest["next_cursor"] is None
    assert [m["subject"] for m in page["data"] + rest["data"]] == ["ooo", "s2", "s1", "s0"]  # newest first
    assert [m["subject"] for m in inbound.get("c", "/v1/mail/inbound?kind=auto_reply")["data"]] == ["ooo"]
    assert len(inbound.get("c", "/v1/mail/inbound?tag=support")["data"]) == 3
    assert [m["subject"] for m in inbound.get("c", "/v1/mail/inbound?tag=none")["data"]] == ["ooo"]
    assert "text" not in page["data"][0] and "html" not in page["data"][0]
    bad = inbound.svc.client.get("/v1/mail/inbound?kind=spam", headers=inbound.svc.headers("c"))
    assert bad.status_code == 400 and "kind" in bad.get_json()["errors"]


def test_isolation_of_messages_attachments_and_raw(inbound: Inbound) -> None:
    box = inbound.mailbox("a", "Acme")
    inbound.mailbox("b", "Bolt")
    subject = f"private-{uuid.uuid4().hex[:6]}"
    msg = with_attachment(f"{box}@{DOMAIN}")
    del msg["Subject"]
    msg["Subject"] = subject
    inbound.send(as_bytes(msg), [f"{box}@{DOMAIN}"])
    [mine] = [m for m in inbound.get("a", "/v1/mail/inbound?limit=200")["data"] if m["subject"] == subject]
    detail = inbound.get("a", f"/v1/mail/inbound/{mine['id']}")
    att = detail["attachments"][0]["id"]
    # B: nothing listed, filtered or readable (404, never 403).
    assert all(m["id"] != mine["id"] for m in inbound.get("b", "/v1/mail/inbound?limit=200")["data"])
    assert all(m["id"] != mine["id"] for m in inbound.get("b", "/v1/mail/inbound?tag=none&limit=200")["data"])
    inbound.get("b", f"/v1/mail/inbound/{mine['id']}", 404)
    inbound.get("b", f"/v1/mail/inbound/{mine['id']}/attachments/{att}", 404)
    inbound.get("b", f"/v1/mail/inbound/{mine['id']}/raw", 404)
    inbound.get("a", f"/v1/mail/inbound/{uuid.uuid4()}/attachments/{att}", 404)  # not under another message
    inbound.get("a", f"/v1/mail/inbound/{mine['id']}/raw", 403, roles=("member",))
    raw = inbound.get("a", f"/v1/mail/inbound/{mine['id']}/raw")
    assert raw.mimetype == "message/rfc822" and subject.encode() in raw.data
    inbound.get("a", "/v1/mail/inbound/not-a-uuid", 404)
    # The public principal (open paths) reads nothing.
    resp = inbound.svc.client.get(f"/v1/mail/inbound/{mine['id']}", headers=inbound.public_headers())
    assert resp.status_code in (403, 404)
    assert inbound.svc.client.get("/v1/mail/addresses", headers=inbound.public_headers()).status_code in (403, 404)
