"""Mail from the tenant's support address (crm_mail.requests from_support): From is
<mailbox>+support@<inbound domain> with the tenant's name, Reply-To the reply token, and the
Message-ID the requester can predict (crm_mail.requests.new_message_id)."""

from __future__ import annotations

import email
import email.utils
import uuid
from email.policy import default

import pytest
from send_helpers import queue
from sqlalchemy import select

from crm_core.context import tenant_context
from crm_events.envelope import Event
from crm_mail.requests import MailRequestError, build_request, message_id_domain, new_message_id
from crm_testing.apps import ServiceHarness
from mail.models import MailMessage
from mail.service import mailboxes, support

DOMAIN = "inbound.localhost"


def _sent(svc: ServiceHarness, tenant: uuid.UUID, mid: uuid.UUID) -> tuple[MailMessage, email.message.EmailMessage]:
    with tenant_context(tenant), svc.db.transaction() as session:
        row = session.scalars(select(MailMessage).where(MailMessage.id == mid)).one()
        session.expunge(row)
    return row, email.message_from_bytes(row.mime, policy=default)  # type: ignore[return-value]


def _name_tenant(svc: ServiceHarness, tenant: uuid.UUID, name: str) -> None:
    event = Event(type="crm.tenant.created", source="gateway", tenant_id=str(tenant), subject=str(tenant),
                  data={"id": str(tenant), "name": name})
    with tenant_context(tenant), svc.db.transaction() as session:
        support.tenant_handlers()["crm.tenant.created"](session, event)


def test_support_from_carries_the_tenant_name_token_and_predicted_message_id(mail_service: ServiceHarness) -> None:
    svc = mail_service
    tenant = svc.tenant("a")
    _name_tenant(svc, tenant, "Acme  Support GmbH")
    mid = uuid.uuid4()
    queue(svc, tenant, to=[{"address": "ana@example.com", "name": "Ana"}], cc=["bo@example.com"],
          subject="[#1001] Printer", from_support=True, reply_token="tok_ABCDEFGH12",
          in_reply_to="<first@example.com>", references=["<first@example.com>"], message_id=mid)
    row, msg = _sent(svc, tenant, mid)
    with svc.db.transaction() as session:
        box = mailboxes.get_mailbox(session, tenant)
        assert box is not None and box.display_name == "Acme Support GmbH"
        name = box.name
    assert email.utils.parseaddr(str(msg["From"])) == ("Acme Support GmbH", f"{name}+support@{DOMAIN}")
    assert str(msg["Reply-To"]) == f"{name}+t-tok_ABCDEFGH12@{DOMAIN}"
    assert str(msg["Message-ID"]) == new_message_id(mid, message_id_domain(svc.settings)) == row.message_id_header
    assert str(msg["In-Reply-To"]) == "<first@example.com>" and str(msg["Subject"]) == "[#1001] Printer"
    assert row.from_address == f"{name}+support@{DOMAIN}" and row.sender_id is None


def test_support_from_without_a_known_name_and_with_an_override(mail_service: ServiceHarness) -> None:
    svc = mail_service
    tenant = svc.tenant("b")
    first = queue(svc, tenant, to=["ana@example.com"], from_support=True)
    _, msg = _sent(svc, tenant, first)
    name, address = email.utils.parseaddr(str(msg["From"]))
    assert address.endswith(f"+support@{DOMAIN}") and name == address.split("+")[0]  # the mailbox's name
    second = queue(svc, tenant, to=["ana@example.com"], from_support=True, from_name="Help Desk")
    assert email.utils.parseaddr(str(_sent(svc, tenant, second)[1]["From"]))[0] == "Help Desk"


def test_from_support_survives_the_consumer_check_and_excludes_a_sender() -> None:
    from mail.service.requests import check

    data = build_request(to=["a@example.com"], subject="s", purpose="transactional", text="t", from_support=True)
    assert check(data)["from"] == {"support": True}
    with pytest.raises(MailRequestError):
        build_request(to=["a@example.com"], subject="s", purpose="transactional", text="t", from_support=True,
                      sender_id=uuid.uuid4())
