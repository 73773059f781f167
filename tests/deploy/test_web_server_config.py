"""crm_runtime.web: CRM_WEB_SERVER, the commands both servers get from deploy/gunicorn.conf.py's
settings, the granian side's multiprocess-directory reset and dead-worker sweep."""

from __future__ import annotations

import os

import pytest

from crm_runtime import web

ENV = ("CRM_WEB_SERVER", "GUNICORN_BIND", "GUNICORN_WORKERS", "GUNICORN_THREADS", "GUNICORN_ACCESSLOG",
       "GUNICORN_MAX_REQUESTS", "GUNICORN_MAX_REQUESTS_JITTER", "CRM_LOG_LEVEL", "GRANIAN_WORKERS_KILL_TIMEOUT")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_web_server_setting() -> None:
    assert web.web_server({}) == "gunicorn"
    assert web.web_server({"CRM_WEB_SERVER": " Granian "}) == "granian"
    with pytest.raises(SystemExit, match="CRM_WEB_SERVER must be one of gunicorn, granian"):
        web.web_server({"CRM_WEB_SERVER": "uwsgi"})


def test_granian_gets_the_gunicorn_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUNICORN_WORKERS", "3")
    monkeypatch.setenv("GUNICORN_THREADS", "8")
    monkeypatch.setenv("GUNICORN_ACCESSLOG", "-")
    monkeypatch.setenv("CRM_LOG_LEVEL", "WARNING")
    config = web.server_config()
    cmd = web.granian_command("contacts.app:create_app()", "127.0.0.1:9001", workers=config["workers"],
                              threads=config["threads"], config=config)
    joined = " ".join(cmd)
    assert cmd[1:3] == ["-m", "granian"] and cmd[-1] == "contacts.app:create_app" and "--factory" in cmd
    for expected in ("--interface wsgi", "--workers 3", "--blocking-threads 8", "--host 127.0.0.1", "--port 9001",
                     "--log-level warning", "--workers-kill-timeout 30", "--respawn-failed-workers", "--access-log"):
        assert expected in joined, expected
    default_bind = web.granian_command("m:app", config["bind"], workers=1, threads=1, config=config)
    assert "--factory" not in default_bind and default_bind[-1] == "m:app"
    assert " ".join(default_bind).count("--host 0.0.0.0 --port 8000") == 1


def test_granian_kill_timeout_left_to_its_own_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRANIAN_WORKERS_KILL_TIMEOUT", "5")
    config = web.server_config()
    assert "--workers-kill-timeout" not in web.granian_command("m:app", "[::1]:8000", workers=1, threads=1,
                                                                config=config)


def test_gunicorn_command_and_recycling(monkeypatch: pytest.MonkeyPatch) -> None:
    cmd = web.gunicorn_command("gateway.app:create_app()", ["0.0.0.0:8000", "127.0.0.1:8001"])
    assert cmd[1:3] == ["-c", str(web.GUNICORN_CONF)]
    assert cmd[3:] == ["--bind", "0.0.0.0:8000", "--bind", "127.0.0.1:8001", "gateway.app:create_app()"]
    assert web.server_config()["max_requests"] == 0
    monkeypatch.setenv("GUNICORN_MAX_REQUESTS", "5000")
    config = web.server_config()
    assert (config["max_requests"], config["max_requests_jitter"]) == (5000, 500)


def test_reset_and_sweep(tmp_path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "counter_1.db").write_bytes(b"x")
    web.reset_multiproc_dir(tmp_path)
    assert not any(tmp_path.iterdir())

    alive, dead = os.getpid(), 999_999_999
    for name in (f"gauge_livesum_{alive}.db", f"gauge_livesum_{dead}.db", f"gauge_liveall_{dead}.db",
                 f"counter_{dead}.db", f"gauge_max_{dead}.db"):
        (tmp_path / name).write_bytes(b"")
    swept: set[int] = set()
    assert web.sweep_dead_workers(tmp_path, swept) == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"counter_{dead}.db", f"gauge_livesum_{alive}.db",
                                                          f"gauge_max_{dead}.db"]
    assert web.sweep_dead_workers(tmp_path, swept) == []  # once per pid
