"""A database that is away answers 503 with Retry-After, never 500; a real bug still answers 500."""

from __future__ import annotations

import sqlite3

from flask import Flask
from sqlalchemy.exc import OperationalError, ProgrammingError

from crm_http import problems


def _app(error: Exception) -> Flask:
    app = Flask(__name__)
    problems.install(app)

    @app.get("/x")
    def boom() -> None:
        raise error

    return app


def test_transient_database_errors_are_503() -> None:
    for error in (
        OperationalError("select 1", {}, sqlite3.OperationalError("database is locked")),
        OperationalError("select 1", {}, ConnectionRefusedError("connection refused")),
        ConnectionResetError("server closed the connection"),
    ):
        resp = _app(error).test_client().get("/x")
        assert resp.status_code == 503, error
        assert resp.headers["Retry-After"] == "2" and resp.content_type == "application/problem+json"


def test_other_database_errors_stay_500() -> None:
    for error in (OperationalError("select", {}, sqlite3.OperationalError("no such table: x")),
                  ProgrammingError("select", {}, Exception("syntax error"))):
        assert _app(error).test_client().get("/x").status_code == 500
