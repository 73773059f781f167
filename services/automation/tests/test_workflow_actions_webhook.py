"""call_webhook against a local receiver: the rendered JSON body, the Standard Webhooks signature
with the step's secret, the step's idempotency key as Webhook-Id, and which failures are retried."""

from __future__ import annotations

import datetime as dt
import json
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from webhook_helpers import Receiver

from automation import signing
from automation.sender import Sender
from automation.workflows.actions import actions
from automation.workflows.steps import StepContext, StepError


@pytest.fixture
def call_webhook() -> Iterator[Any]:
    sender = Sender(allow_private=True, timeout=2.0)  # the receiver is on 127.0.0.1
    yield actions(sender=sender)["call_webhook"]
    sender.close()


def _ctx(record: dict[str, Any] | None = None) -> StepContext:
    run = uuid.uuid4()
    return StepContext(tenant_id=uuid.uuid4(), workflow_id=uuid.uuid4(), run_id=run, step_id="hook",
                       idempotency_key=f"wf:{run}:hook", causation=[str(run)], record_type="contact" if record else None,
                       record_id=record["id"] if record else None, record=record, trigger={"data": {"plan": "pro"}},
                       api=None, now=dt.datetime(2027, 1, 1, tzinfo=dt.UTC))  # type: ignore[arg-type]


def test_posts_rendered_json_signed_with_the_steps_secret(call_webhook: Any, receiver: Receiver) -> None:
    secret = signing.generate_secret()
    record = {"id": str(uuid.uuid4()), "first_name": "Ada", "tags": ["vip"]}
    ctx = _ctx(record)
    step = {"url": receiver.url + "/{{ record.id }}", "secret": secret,
            "body": {"name": "{{ record.first_name }}", "plan": "{{ trigger.data.plan }}", "n": 3}}
    out = call_webhook.run(ctx, step)
    assert out["status"] == 200 and out["response"] == '{"received": true}'
    (got,) = receiver.requests
    assert (got.method, got.path) == ("POST", f"/hooks/{record['id']}")
    assert json.loads(got.body) == {"name": "Ada", "plan": "pro", "n": 3}
    assert got.headers["webhook-id"] == ctx.idempotency_key
    assert got.headers["webhook-signature"] == signing.sign(secret, ctx.idempotency_key,
                                                            int(got.headers["webhook-timestamp"]), got.body)


def test_a_json_template_body_another_method_and_no_secret(call_webhook: Any, receiver: Receiver) -> None:
    ctx = _ctx({"id": "c-1", "tags": ["a", "b"]})
    call_webhook.run(ctx, {"url": receiver.url, "method": "PUT", "body": '{"tags": {{ record.tags|tojson }}}'})
    call_webhook.run(ctx, {"url": receiver.url})  # no body: the run and its record
    put, default = receiver.requests
    assert put.method == "PUT" and json.loads(put.body) == {"tags": ["a", "b"]}
    assert "webhook-signature" not in put.headers
    body = json.loads(default.body)
    assert (body["record_id"], body["record"], body["step_id"]) == ("c-1", {"id": "c-1", "tags": ["a", "b"]}, "hook")


def test_server_errors_are_retried_client_errors_are_not(call_webhook: Any, receiver: Receiver) -> None:
    receiver.statuses.extend([503, 429, 404, 400, 302])
    outcomes = []
    for _ in range(5):
        with pytest.raises(StepError) as failed:
            call_webhook.run(_ctx(), {"url": receiver.url, "body": {"x": 1}})
        outcomes.append(failed.value.retryable)
    assert outcomes == [True, True, False, False, False]


def test_unreachable_refused_and_malformed_targets(receiver: Receiver) -> None:
    strict = Sender(timeout=1.0)  # the default: public addresses only
    try:
        with pytest.raises(StepError) as private:
            actions(sender=strict)["call_webhook"].run(_ctx(), {"url": receiver.url})
        assert not private.value.retryable and receiver.requests == []
    finally:
        strict.close()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never answers: the deadline ends the attempt
    quick = Sender(allow_private=True, timeout=0.5)
    try:
        hook = actions(sender=quick)["call_webhook"]
        with pytest.raises(StepError) as timeout:
            hook.run(_ctx(), {"url": f"http://127.0.0.1:{silent.getsockname()[1]}/"})
        assert timeout.value.retryable and "Timeout" in timeout.value.message
        with pytest.raises(StepError) as unresolved:
            hook.run(_ctx(), {"url": "http://no-such-host.invalid/"})
        assert unresolved.value.retryable
        with pytest.raises(StepError) as not_json:
            hook.run(_ctx(), {"url": receiver.url, "body": '{"a": {{ trigger.data.plan }}}'})
        assert not not_json.value.retryable and receiver.requests == []
        with pytest.raises(StepError) as bad_url:
            hook.run(_ctx(), {"url": "{{ trigger.data.plan }}://x"})
        assert not bad_url.value.retryable
    finally:
        quick.close()
        silent.close()


def test_preview_sends_nothing(call_webhook: Any, receiver: Receiver) -> None:
    shown = call_webhook.preview(_ctx(), {"url": receiver.url, "body": {"p": "{{ trigger.data.plan }}"},
                                          "secret": signing.generate_secret()})
    assert shown == {"request": {"method": "POST", "url": receiver.url, "body": {"p": "pro"}, "signed": True}}
    assert receiver.requests == []
