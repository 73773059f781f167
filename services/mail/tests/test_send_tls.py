"""The relay path with STARTTLS and AUTH (port 587 style) and with implicit TLS (smtps://),
against aiosmtpd with a self-signed certificate the client is told to trust."""

from __future__ import annotations

from pathlib import Path

import pytest
from send_helpers import drain, queue, worker

import mail
from crm_runtime.service import migrations_dir
from crm_testing.apps import make_harness
from crm_testing.smtp import SmtpSink, self_signed_context
from mail.app import create_app
from mail.models import metadata


def harness(tmp_path: Path, url: str, ca: str) -> object:
    return make_harness("mail", create_app, metadata(), migrations_dir(mail.__file__), tmp_path,
                        CRM_SMTP_URL=url, CRM_SMTP_CA_FILE=ca, CRM_MAIL_RETRY_BASE_SECONDS="0")


def test_starttls_and_auth(tmp_path: Path) -> None:
    context, ca = self_signed_context(tmp_path)
    with SmtpSink(starttls=context, require_starttls=True, users={"crm": "s3cret"}) as sink:
        svc = harness(tmp_path, f"smtp://crm:s3cret@127.0.0.1:{sink.port}?tls=starttls", ca)
        queue(svc, svc.tenant("a"), to=["a@example.com"])  # type: ignore[attr-defined]
        drain(worker(svc))  # type: ignore[arg-type]
        assert sink.wait_for(1)
        got = sink.messages[0]
        assert got.tls and got.authenticated_as == "crm"


@pytest.mark.parametrize("password", ["wrong"])
def test_bad_credentials_defer_rather_than_lose_the_message(tmp_path: Path, password: str) -> None:
    context, ca = self_signed_context(tmp_path)
    with SmtpSink(starttls=context, require_starttls=True, users={"crm": "s3cret"}) as sink:
        svc = harness(tmp_path, f"smtp://crm:{password}@127.0.0.1:{sink.port}?tls=starttls", ca)
        queue(svc, svc.tenant("a"), to=["a@example.com"])  # type: ignore[attr-defined]
        w = worker(svc)  # type: ignore[arg-type]
        w.deliver_due()
        assert sink.count == 0
        listed = svc.client.get("/v1/mail/messages", headers=svc.headers("a")).get_json()["data"]  # type: ignore[attr-defined]
        assert listed[0]["status"] == "deferred" and listed[0]["last_smtp_code"] == 535


def test_implicit_tls(tmp_path: Path) -> None:
    context, ca = self_signed_context(tmp_path)
    with SmtpSink(implicit_tls=context) as sink:
        svc = harness(tmp_path, sink.url, ca)
        queue(svc, svc.tenant("a"), to=["a@example.com"])  # type: ignore[attr-defined]
        drain(worker(svc))  # type: ignore[arg-type]
        assert sink.wait_for(1) and sink.messages[0].tls
