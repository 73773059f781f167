"""The contacts service with one extra route for tests/e2e/test_web_server.py: `/_test/slow?s=<seconds>`
sleeps (a request still in flight when SIGTERM arrives) and answers with the worker's pid."""

from __future__ import annotations

import os
import time

from flask import Flask, request

from contacts.app import create_app as create_contacts_app


def create_app() -> Flask:
    app = create_contacts_app()

    @app.get("/_test/slow")
    def slow() -> dict[str, object]:
        time.sleep(min(float(request.args.get("s", "0")), 10.0))
        return {"pid": os.getpid()}

    return app
