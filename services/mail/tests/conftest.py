from __future__ import annotations

from pathlib import Path

import pytest
from inbound_fixtures import inbound, mail_topic  # noqa: F401  (the inbound tests' PostgreSQL + Kafka + SMTP)

import mail
from crm_runtime.service import migrations_dir
from crm_testing.apps import ServiceHarness, make_harness
from mail.app import create_app
from mail.models import metadata


@pytest.fixture
def mail_service(tmp_path: Path) -> ServiceHarness:
    return make_harness("mail", create_app, metadata(), migrations_dir(mail.__file__), tmp_path)
