"""Fixtures of the deployment tests: docker-compose.yml and the Kubernetes examples, parsed once."""

from __future__ import annotations

import pytest
import yaml
from compose_support import COMPOSE_FILE, DEPLOY


@pytest.fixture(scope="session")
def compose_text() -> str:
    return COMPOSE_FILE.read_text()


@pytest.fixture(scope="session")
def compose(compose_text: str) -> dict:
    data = yaml.safe_load(compose_text)
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


@pytest.fixture(scope="session")
def services(compose: dict) -> dict[str, dict]:
    return compose["services"]


@pytest.fixture(scope="session")
def k8s_objects() -> list[dict]:
    """Every object of deploy/kubernetes, as kustomization.yaml lists the files."""
    kdir = DEPLOY / "kubernetes"
    kustomization = yaml.safe_load((kdir / "kustomization.yaml").read_text())
    objects = []
    for resource in kustomization["resources"]:
        for doc in yaml.safe_load_all((kdir / resource).read_text()):
            if doc:
                objects.append(doc)
    return objects
