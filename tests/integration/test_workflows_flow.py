"""Workflows end to end on PostgreSQL + Kafka: the issue's example as written, validation, the
triggers (event with condition / changed_to / excluded sources, manual, webhook, schedule), waits,
retry after a fix, dry runs, and tenants kept apart.

The rig (workflow_rig.py): the services' workers run as processes, as deployed; automation's run
loop and timers run as threads of this process on a controllable clock (real time plus an offset
the test moves), so a one-minute delay takes no minute. test_workflows_steps.py covers the steps
and actions one by one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from workflow_rig import OffsetClock, get_run, list_runs, ok, wait_runs, workflow_rig

from crm_testing.platform import Platform, wait_for

pytestmark = pytest.mark.integration

EXAMPLE: dict[str, Any] = {
    "name": "Call new leads", "enabled": True,
    "trigger": {"type": "event", "event": "crm.contact.created", "condition": "lifecycle_stage = 'lead'"},
    "steps": [
        {"id": "call", "type": "create_task", "title": "Call {{ record.first_name }}", "due_in_days": 1},
        {"id": "wait", "type": "delay", "minutes": 1},
        {"id": "tag", "type": "update_record", "fields": {"tags": ["called-workflow"]}},
    ]}


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory, pg_admin_url: str, kafka_bootstrap: str) -> Iterator[tuple[Platform, OffsetClock]]:
    with workflow_rig(Path(tmp_path_factory.mktemp("workflows")), pg_admin_url, kafka_bootstrap) as running:
        yield running.platform, running.clock


def test_the_example_gives_a_task_then_a_minute_later_the_tag(rig: tuple[Platform, OffsetClock]) -> None:
    platform, clock = rig
    token = platform.signup("Flow Co")["access_token"]
    workflow = ok(platform.request("POST", "/v1/workflows", EXAMPLE, token=token), 201)
    assert workflow["version_number"] == 1 and workflow["steps"] == EXAMPLE["steps"]
    ada = ok(platform.request("POST", "/v1/contacts", {"first_name": "Ada", "lifecycle_stage": "lead"}, token=token), 201)
    ok(platform.request("POST", "/v1/contacts", {"first_name": "Bob", "lifecycle_stage": "customer"}, token=token), 201)
    [waiting] = wait_runs(platform, token, workflow["id"], "waiting")
    assert waiting["record_id"] == ada["id"]
    tasks = ok(platform.request("GET", f"/v1/tasks?contact_id={ada['id']}", token=token))["data"]
    assert [t["title"] for t in tasks] == ["Call Ada"]
    assert ok(platform.request("GET", f"/v1/contacts/{ada['id']}", token=token))["tags"] == []
    clock.advance(seconds=61)
    [done] = wait_runs(platform, token, workflow["id"], "completed")
    assert ok(platform.request("GET", f"/v1/contacts/{ada['id']}", token=token))["tags"] == ["called-workflow"]
    detail = get_run(platform, token, done["id"])
    assert [(s["step_id"], s["status"], s["attempts"]) for s in detail["steps"]] == [
        ("call", "succeeded", 1), ("wait", "succeeded", 1), ("tag", "succeeded", 1)]
    assert detail["steps"][0]["output"] and detail["steps"][0]["started_at"] and detail["steps"][0]["finished_at"]
    assert len(list_runs(platform, token, workflow["id"])) == 1  # Bob started no run
    # still one task: nothing ran twice
    assert len(ok(platform.request("GET", f"/v1/tasks?contact_id={ada['id']}", token=token))["data"]) == 1


def test_saving_checks_fields_filters_and_names_the_step(rig: tuple[Platform, OffsetClock]) -> None:
    platform, _clock = rig
    token = platform.signup("Checks Co")["access_token"]
    bad_field = {**EXAMPLE, "steps": [*EXAMPLE["steps"][:2], {"id": "tag", "type": "update_record", "fields": {"tagz": ["x"]}}]}
    errors = ok(platform.request("POST", "/v1/workflows", bad_field, token=token), 422)["errors"]
    assert list(errors) == ["steps.tag.fields.tagz"], errors
    bad_filter = {**EXAMPLE, "trigger": {**EXAMPLE["trigger"], "condition": "lifecycle_stage = = 'lead'"}}
    assert "trigger.condition" in ok(platform.request("POST", "/v1/workflows", bad_filter, token=token), 422)["errors"]
    unknown = {**EXAMPLE, "trigger": {**EXAMPLE["trigger"], "condition": "favourite_colour = 'red'"}}
    assert "trigger.condition" in ok(platform.request("POST", "/v1/workflows", unknown, token=token), 422)["errors"]
    unreachable = {**EXAMPLE, "steps": [{"id": "a", "type": "create_task", "title": "A", "next": "end"},
                                        {"id": "b", "type": "create_task", "title": "B"}]}
    assert list(ok(platform.request("POST", "/v1/workflows", unreachable, token=token), 422)["errors"]) == ["steps.b"]


def test_a_loop_between_two_workflows_is_refused(rig: tuple[Platform, OffsetClock]) -> None:
    platform, _clock = rig
    token = platform.signup("Loop Co")["access_token"]
    first = {"name": "Score to stage", "trigger": {"type": "event", "event": "crm.contact.updated", "changed": ["lead_score"]},
             "steps": [{"id": "stage", "type": "update_record", "fields": {"lifecycle_stage": "customer"}}]}
    ok(platform.request("POST", "/v1/workflows", first, token=token), 201)
    second = {"name": "Stage to score", "trigger": {"type": "event", "event": "crm.contact.updated", "changed": ["lifecycle_stage"]},
              "steps": [{"id": "score", "type": "update_record", "fields": {"lead_score": 10}}]}
    problem = ok(platform.request("POST", "/v1/workflows", second, token=token), 422)
    assert list(problem["errors"]) == ["steps.score"] and "Score to stage" in problem["errors"]["steps.score"][0]


def test_changed_to_and_excluded_sources(rig: tuple[Platform, OffsetClock]) -> None:
    platform, _clock = rig
    token = platform.signup("Changed Co")["access_token"]
    wf = ok(platform.request("POST", "/v1/workflows", {
        "name": "Welcome customers",
        "trigger": {"type": "event", "event": "crm.contact.updated", "changed_to": {"lifecycle_stage": "customer"},
                    "exclude_sources": ["api"]},
        "steps": [{"id": "thanks", "type": "create_task", "title": "Welcome {{ record.first_name }}"}]}, token=token), 201)
    c = ok(platform.request("POST", "/v1/contacts", {"first_name": "Cy", "lifecycle_stage": "lead"}, token=token), 201)
    ok(platform.request("PATCH", f"/v1/contacts/{c['id']}", {"lifecycle_stage": "customer"}, token=token))
    ok(platform.request("PATCH", f"/v1/contacts/{c['id']}", {"first_name": "Cyril"}, token=token))  # is, not changed to
    [done] = wait_runs(platform, token, wf["id"], "completed")
    assert done["trigger"]["origin"] == "user"
    time.sleep(2)
    assert len(list_runs(platform, token, wf["id"])) == 1


def test_manual_start_failure_and_retry_from_the_failed_step(rig: tuple[Platform, OffsetClock]) -> None:
    platform, _clock = rig
    token = platform.signup("Manual Co")["access_token"]
    c = ok(platform.request("POST", "/v1/contacts", {"first_name": "Di"}, token=token), 201)
    # a field the contact has, with a value its service refuses: the step fails for good (422)
    wf = ok(platform.request("POST", "/v1/workflows", {
        "name": "Score by hand", "trigger": {"type": "manual", "record_type": "contact"},
        "steps": [{"id": "note", "type": "create_task", "title": "Look at {{ record.first_name }}"},
                  {"id": "stage", "type": "update_record", "fields": {"lifecycle_stage": "wizard"}}]}, token=token), 201)
    started = ok(platform.request("POST", f"/v1/workflows/{wf['id']}/runs", {"record_ids": [c["id"]]}, token=token), 202)
    [failed] = wait_runs(platform, token, wf["id"], "failed")
    assert failed["id"] == started["data"][0]["id"] and "stage" in failed["error"]
    detail = get_run(platform, token, failed["id"])
    assert [s["status"] for s in detail["steps"]] == ["succeeded", "failed"]
    # the definition is fixed; the run keeps its version, so the retry fails again at that step...
    ok(platform.request("PATCH", f"/v1/workflows/{wf['id']}", {"steps": [
        {"id": "note", "type": "create_task", "title": "Look at {{ record.first_name }}"},
        {"id": "stage", "type": "update_record", "fields": {"lifecycle_stage": "customer"}}]}, token=token))
    assert ok(platform.request("GET", f"/v1/workflows/{wf['id']}/versions", token=token))["data"][0]["number"] == 2
    ok(platform.request("POST", f"/v1/workflow-runs/{failed['id']}/retry", token=token), 202)
    wait_for(lambda: get_run(platform, token, failed["id"])["status"] == "failed"
             and get_run(platform, token, failed["id"])["steps"][1]["attempts"] == 2, timeout=60, what="the retry")
    # ...and a new run on version 2 completes; the first step's task was made once per run
    ok(platform.request("POST", f"/v1/workflows/{wf['id']}/runs", {"record_ids": [c["id"]]}, token=token), 202)
    [done] = wait_runs(platform, token, wf["id"], "completed")
    assert done["workflow_version"] == 2
    tasks = ok(platform.request("GET", f"/v1/tasks?contact_id={c['id']}", token=token))["data"]
    assert len(tasks) == 2
    assert ok(platform.request("GET", f"/v1/contacts/{c['id']}", token=token))["lifecycle_stage"] == "customer"


def test_an_incoming_webhook_needs_a_good_signature(rig: tuple[Platform, OffsetClock]) -> None:
    platform, _clock = rig
    token = platform.signup("Hook Co")["access_token"]
    unlinked = {"name": "No record", "trigger": {"type": "webhook"},
                "steps": [{"id": "task", "type": "create_task", "title": "Order {{ trigger.order }}"}]}
    refused = ok(platform.request("POST", "/v1/workflows", unlinked, token=token), 422)
    assert "steps.task.type" in refused["errors"]  # a task links a record: these runs have none
    buyer = ok(platform.request("POST", "/v1/contacts", {"first_name": "Fay"}, token=token), 201)
    wf = ok(platform.request("POST", "/v1/workflows", {
        "name": "From the shop", "trigger": {"type": "webhook", "record_type": "contact"},
        "steps": [{"id": "task", "type": "create_task", "title": "Order {{ trigger.order }} for {{ record.first_name }}"}]},
        token=token), 201)
    url, secret = wf["webhook_url"], wf["webhook_signing_secret"]
    assert url and secret and "webhook_url" not in ok(platform.request("GET", f"/v1/workflows/{wf['id']}", token=token))
    path = "/" + url.split("/", 3)[3]
    body = json.dumps({"order": "A-17", "record_id": buyer["id"]}).encode()
    stamp = str(int(time.time()))
    good = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Crm-Timestamp": stamp}
    bad = platform.http.request("POST", platform.gateway_url + path, body=body, headers={**headers, "X-Crm-Signature": "sha256=00"})
    assert bad.status == 401
    accepted = platform.http.request("POST", platform.gateway_url + path, body=body, headers={**headers, "X-Crm-Signature": f"sha256={good}"})
    assert accepted.status == 202, accepted.data
    again = platform.http.request("POST", platform.gateway_url + path, body=body, headers={**headers, "X-Crm-Signature": f"sha256={good}"})
    assert again.json()["status"] == "duplicate"
    wait_runs(platform, token, wf["id"], "completed")
    tasks = ok(platform.request("GET", f"/v1/tasks?contact_id={buyer['id']}", token=token))["data"]
    assert [t["title"] for t in tasks] == ["Order A-17 for Fay"]
    assert platform.http.request("POST", platform.gateway_url + "/hooks/workflows/wfh_nope", body=body,
                                 headers=headers).status == 404


def test_a_dry_run_changes_nothing(rig: tuple[Platform, OffsetClock]) -> None:
    platform, _clock = rig
    token = platform.signup("Dry Co")["access_token"]
    wf = ok(platform.request("POST", "/v1/workflows", {**EXAMPLE, "enabled": False}, token=token), 201)
    c = ok(platform.request("POST", "/v1/contacts", {"first_name": "Eve", "lifecycle_stage": "lead"}, token=token), 201)
    result = ok(platform.request("POST", f"/v1/workflows/{wf['id']}/test", {"record_ids": [c["id"]]}, token=token))
    [one] = result["results"]
    assert [s["step_id"] for s in one["steps"]] == ["call", "wait", "tag"]
    assert "Call Eve" in json.dumps(one["steps"][0]["would"])
    assert "would_wait_until" in one["steps"][1]
    time.sleep(1)
    assert ok(platform.request("GET", f"/v1/tasks?contact_id={c['id']}", token=token))["data"] == []
    assert ok(platform.request("GET", f"/v1/contacts/{c['id']}", token=token))["tags"] == []


def test_another_tenant_sees_and_touches_nothing(rig: tuple[Platform, OffsetClock]) -> None:
    platform, _clock = rig
    a = platform.signup("Tenant A")["access_token"]
    b = platform.signup("Tenant B")["access_token"]
    secret_contact = ok(platform.request("POST", "/v1/contacts", {"first_name": "Secret"}, token=a), 201)
    wf = ok(platform.request("POST", "/v1/workflows", {
        "name": "A's", "trigger": {"type": "manual", "record_type": "contact"},
        "steps": [{"id": "t", "type": "create_task", "title": "x"}]}, token=a), 201)
    run = ok(platform.request("POST", f"/v1/workflows/{wf['id']}/runs", {"record_ids": [secret_contact["id"]]}, token=a), 202)
    for path in (f"/v1/workflows/{wf['id']}", f"/v1/workflows/{wf['id']}/runs", f"/v1/workflows/{wf['id']}/versions",
                 f"/v1/workflow-runs/{run['data'][0]['id']}"):
        assert platform.request("GET", path, token=b).status == 404, path
    assert platform.request("PATCH", f"/v1/workflows/{wf['id']}", {"name": "mine"}, token=b).status == 404
    assert platform.request("DELETE", f"/v1/workflows/{wf['id']}", token=b).status == 404
    assert platform.request("POST", f"/v1/workflow-runs/{run['data'][0]['id']}/retry", token=b).status == 404
    assert ok(platform.request("GET", "/v1/workflows", token=b))["data"] == []
    # B's own workflow on A's contact: the record is unknown to B's workflow
    mine = ok(platform.request("POST", "/v1/workflows", {
        "name": "B's", "trigger": {"type": "manual", "record_type": "contact"},
        "steps": [{"id": "t", "type": "update_record", "fields": {"first_name": "{{ record.first_name }} (seen)"}}]}, token=b), 201)
    refused = ok(platform.request("POST", f"/v1/workflows/{mine['id']}/runs", {"record_ids": [secret_contact["id"]]}, token=b), 422)
    assert "record_ids.0" in refused["errors"]
    dry = ok(platform.request("POST", f"/v1/workflows/{mine['id']}/test", {"record_ids": [secret_contact["id"]]}, token=b))
    assert "error" in dry["results"][0] and "Secret" not in json.dumps(dry)
    # a crafted condition names only B's own records
    crafted = {"name": "B's probe", "trigger": {"type": "event", "event": "crm.contact.created",
                                                 "condition": f"id = '{secret_contact['id']}' or first_name = 'Secret'"},
               "steps": [{"id": "t", "type": "create_task", "title": "{{ record.first_name }}"}]}
    probe = ok(platform.request("POST", "/v1/workflows", crafted, token=b), 201)
    ok(platform.request("POST", "/v1/contacts", {"first_name": "Secret"}, token=a), 201)
    time.sleep(3)
    assert list_runs(platform, b, probe["id"]) == []
    assert ok(platform.request("GET", f"/v1/contacts/{secret_contact['id']}", token=a))["first_name"] == "Secret"


def test_a_schedule_runs_once_per_selected_record(rig: tuple[Platform, OffsetClock]) -> None:
    platform, clock = rig
    token = platform.signup("Cron Co")["access_token"]
    for name in ("F1", "F2"):
        ok(platform.request("POST", "/v1/contacts", {"first_name": name, "lifecycle_stage": "opportunity"}, token=token), 201)
    ok(platform.request("POST", "/v1/contacts", {"first_name": "G", "lifecycle_stage": "lead"}, token=token), 201)
    wf = ok(platform.request("POST", "/v1/workflows", {
        "name": "Monday check", "trigger": {"type": "schedule", "cron": "0 9 * * 1", "timezone": "Europe/Berlin",
                                            "record_type": "contact", "filter": "lifecycle_stage = 'opportunity'"},
        "steps": [{"id": "t", "type": "create_task", "title": "Check {{ record.first_name }}"}]}, token=token), 201)
    clock.advance(days=8)
    runs = wait_runs(platform, token, wf["id"], "completed", count=3)  # the schedule's own run and one per record
    assert sorted(r["record_id"] or "" for r in runs) == sorted(["", *(r["record_id"] for r in runs if r["record_id"])])
    assert len([r for r in runs if r["record_id"]]) == 2
