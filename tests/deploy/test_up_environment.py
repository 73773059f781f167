"""What `make up` (scripts/up.py) gives each child: the internal private key to the gateway web and
the automation worker only, the services' URLs to the gateway and to automation. Its children are
recorded, not started (tests/e2e/test_make_up.py runs the real thing)."""

from __future__ import annotations

import contextlib
import importlib.util
import signal
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from crm_core.settings import REPO_ROOT

ROUTED = ("contacts", "pipeline", "tickets", "campaigns", "reporting", "mail")


class _Child:
    """A child that has exited at once: up.py stops the platform when it sees one."""

    def __init__(self, args: list[str], env: dict[str, str], **_: Any) -> None:
        self.args, self.env, self.pid, self.returncode = args, env, 0, 0

    def poll(self) -> int:
        return 0

    def wait(self, timeout: float | None = None) -> int:
        return 0

    def send_signal(self, _sig: int) -> None:
        pass


def _load_up() -> ModuleType:
    spec = importlib.util.spec_from_file_location("up_under_test", REPO_ROOT / "scripts" / "up.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def children(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, str]]:
    """`<service> <command>` -> the environment up.py starts it with."""
    up = _load_up()
    started: list[_Child] = []

    def popen(args: list[str], env: dict[str, str], **kw: Any) -> _Child:
        started.append(_Child(args, env, **kw))
        return started[-1]

    class _Ready:
        status = 200

        def __enter__(self) -> _Ready:
            return self

        def __exit__(self, *_: object) -> None:
            return None

    for name in ("CRM_DATABASE_URL", "CRM_DATABASE_OWNER_URL", "CRM_KAFKA_BOOTSTRAP", "CRM_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CRM_INTERNAL_PRIVATE_KEY", "a key in the shell goes to no child")
    monkeypatch.setenv("CRM_VAR_DIR", str(tmp_path))
    monkeypatch.setattr(up, "upgrade", lambda *_: None)
    monkeypatch.setattr(up, "ensure_built", lambda: None)
    monkeypatch.setattr(up, "mail_summary", lambda _var: "")
    monkeypatch.setattr(up.subprocess, "Popen", popen)
    monkeypatch.setattr(up.urllib.request, "urlopen", lambda *_a, **_k: _Ready())
    monkeypatch.setattr(up.os, "killpg", lambda *_: None)  # the recorded children have no process group
    previous = signal.getsignal(signal.SIGTERM)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            assert up.main() == 1  # stopped: its (recorded) children "exited"
    finally:
        signal.signal(signal.SIGTERM, previous)
    return {f"{c.args[2]} {c.args[3]}": c.env for c in started}


def test_the_private_key_goes_to_the_token_signers_only(children: dict[str, dict[str, str]], tmp_path: Path) -> None:
    private = str(tmp_path / "keys" / "internal_ed25519.pem")
    holders = {name for name, env in children.items() if "CRM_INTERNAL_PRIVATE_KEY_FILE" in env}
    assert holders == {"gateway web", "automation web", "automation worker"}
    assert not [name for name, env in children.items() if "CRM_INTERNAL_PRIVATE_KEY" in env]
    assert {children[name]["CRM_INTERNAL_PRIVATE_KEY_FILE"] for name in holders} == {private}
    assert all(env["CRM_INTERNAL_PUBLIC_KEY_FILE"] for env in children.values())


def test_automation_and_the_gateway_know_the_services(children: dict[str, dict[str, str]]) -> None:
    for name in ("gateway web", "automation web", "automation worker"):
        for service in ROUTED:
            assert children[name][f"CRM_{service.upper()}_URL"].startswith("http://127.0.0.1:"), (name, service)
    assert children["gateway web"]["CRM_CONTACTS_URL"] == children["automation worker"]["CRM_CONTACTS_URL"]
    assert "CRM_CONTACTS_URL" not in children["pipeline worker"]
