"""The baseline: a bare Flask app answering a small JSON object."""

from __future__ import annotations

from flask import Flask


def create_app() -> Flask:
    app = Flask("bare")

    @app.post("/v1/contacts")
    @app.get("/ping")
    def ping() -> dict[str, object]:
        return {"ok": True, "service": "bare"}

    return app
