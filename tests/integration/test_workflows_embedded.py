"""Workflows on the embedded default (SQLite files, the embedded event log, every loop a thread),
as `make up` runs them: the example starts a run, makes the task and waits on its delay."""

from __future__ import annotations

from test_workflows_flow import EXAMPLE

from crm_testing.platform import Platform, wait_for


def test_the_example_runs_on_the_embedded_default(embedded_platform: Platform) -> None:
    token = embedded_platform.signup("Embedded Flow")["access_token"]
    created = embedded_platform.request("POST", "/v1/workflows", EXAMPLE, token=token)
    assert created.status == 201, created.data
    workflow = created.json()
    ada = embedded_platform.request("POST", "/v1/contacts", {"first_name": "Ada", "lifecycle_stage": "lead"}, token=token).json()

    def waiting() -> list | None:
        runs = embedded_platform.request("GET", f"/v1/workflows/{workflow['id']}/runs", token=token).json()["data"]
        return runs if runs and runs[0]["status"] == "waiting" else None

    [run] = wait_for(waiting, timeout=60, what="the run to wait on its delay")
    assert run["record_id"] == ada["id"]
    tasks = embedded_platform.request("GET", f"/v1/tasks?contact_id={ada['id']}", token=token).json()["data"]
    assert [t["title"] for t in tasks] == ["Call Ada"]
    detail = embedded_platform.request("GET", f"/v1/workflow-runs/{run['id']}", token=token).json()
    assert [(s["step_id"], s["status"]) for s in detail["steps"]] == [("call", "succeeded"), ("wait", "waiting")]
