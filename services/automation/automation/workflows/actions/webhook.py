"""call_webhook: send JSON to a URL with the webhook sender (automation.sender): the address is
checked at every attempt (no private, loopback or link-local targets unless the operator allows
them), one deadline covers the whole attempt, and the body is signed like subscription
deliveries (Standard Webhooks) when the step has a `secret`. `Webhook-Id` is the step's
idempotency key, so a receiver can tell a retry from a new call."""

from __future__ import annotations

import binascii
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import ValidationError, fields, validate, validates

from automation import signing
from automation.sender import Sender
from automation.urls import UnsafeUrl, parse
from automation.workflows.actions.base import StepSchema, Template, load
from automation.workflows.steps import StepContext, StepError, Writes
from automation.workflows.templates import data_problem, render, render_data, template_problem

METHODS = ("POST", "PUT", "PATCH", "DELETE")
MAX_BODY_BYTES = 256 * 1024
RETRYABLE = frozenset({408, 425, 429})


class CallWebhookSchema(StepSchema):
    url = Template(required=True, validate=validate.Length(min=1, max=2000))
    method = fields.String(load_default="POST", validate=validate.OneOf(METHODS))
    body = fields.Raw()  # a template of JSON text, or JSON whose strings are templates
    secret = fields.String(validate=validate.Length(min=10, max=200))

    @validates("url")
    def reachable(self, value: str, **_: Any) -> None:
        if "{" not in value:  # a templated URL is checked once rendered
            try:
                parse(value)
            except UnsafeUrl as exc:
                raise ValidationError(str(exc)) from None

    @validates("body")
    def json_body(self, value: Any, **_: Any) -> None:
        if isinstance(value, str):
            problem = template_problem(value)
            if problem is None and "{{" not in value and "{%" not in value:
                try:
                    json.loads(value)
                except ValueError:
                    problem = "Not JSON (give JSON text, a template of it, or a JSON value)."
        else:
            problem = data_problem(value)
        if problem:
            raise ValidationError(problem)

    @validates("secret")
    def standard_secret(self, value: str, **_: Any) -> None:
        try:
            raw = signing.secret_bytes(value)
        except (binascii.Error, ValueError):
            raw = b""
        if not 16 <= len(raw) <= 64:
            raise ValidationError("Use a Standard Webhooks secret: whsec_ and base64 of 16 to 64 random bytes.")


def _default_body(ctx: StepContext) -> dict[str, Any]:
    return {"workflow_id": str(ctx.workflow_id), "run_id": str(ctx.run_id), "step_id": ctx.step_id,
            "record_type": ctx.record_type, "record_id": ctx.record_id, "record": ctx.record}


class CallWebhook:
    type = "call_webhook"
    schema = CallWebhookSchema
    record_types = None

    def __init__(self, sender: Sender | Callable[[], Sender] | None = None) -> None:
        # The engine hands the process's sender (its CRM_WEBHOOK_ALLOW_PRIVATE and timeout);
        # without one, a default sender (public addresses only) is made at first use.
        self._sender, self._lock = sender, threading.Lock()

    def sender(self) -> Sender:
        with self._lock:
            if self._sender is None:
                self._sender = Sender()
            elif not isinstance(self._sender, Sender):
                self._sender = self._sender()
            return self._sender

    def writes(self, params: Mapping[str, Any], record_type: str | None) -> Writes:
        return Writes(frozenset())  # outside the CRM: nothing a workflow trigger can see

    def request(self, ctx: StepContext, params: Mapping[str, Any]) -> tuple[str, str, bytes, str | None]:
        p = load(self.schema, params)
        values = ctx.template_values()
        url = render(p["url"], values).strip()
        try:
            parse(url)
        except UnsafeUrl as exc:
            raise StepError(f"The webhook URL {url[:200]!r}: {exc}", retryable=False) from exc
        if "body" not in p:
            body: Any = _default_body(ctx)
        elif isinstance(p["body"], str):
            text = render(p["body"], values)
            try:
                body = json.loads(text)
            except ValueError as exc:
                raise StepError(f"The webhook body is not JSON once rendered: {exc}", retryable=False) from exc
        else:
            body = render_data(p["body"], values)
        payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str).encode()
        if len(payload) > MAX_BODY_BYTES:
            raise StepError(f"The webhook body is over {MAX_BODY_BYTES // 1024} KB", retryable=False)
        return p["method"], url, payload, p.get("secret")

    def run(self, ctx: StepContext, params: Mapping[str, Any]) -> dict[str, Any]:
        method, url, payload, secret = self.request(ctx, params)
        result = self.sender().send(url, secret, ctx.idempotency_key, payload, method=method)
        out = {"status": result.status_code, "duration_ms": result.duration_ms, "response": result.response}
        if result.ok:
            return out
        if result.status_code is None:
            raise StepError(f"The webhook call failed: {result.error}", retryable=not result.refused)
        code = result.status_code
        raise StepError(f"The webhook answered HTTP {code}" + (f": {result.response[:200]}" if result.response else ""),
                        retryable=code >= 500 or code in RETRYABLE)

    def preview(self, ctx: StepContext, params: Mapping[str, Any]) -> dict[str, Any]:
        method, url, payload, secret = self.request(ctx, params)
        return {"request": {"method": method, "url": url, "body": json.loads(payload), "signed": bool(secret)}}

