import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router-dom";
import { managesTenant, useMe } from "../../api/me";
import { ApiError } from "../settings/problem";
import { type Json, triggerOf, triggerSummary, type Workflow } from "./definition";
import { saveFailure } from "./workflowErrors";
import { updateWorkflow, useWorkflows } from "./workflowsApi";

/** /workflows: every workflow with what starts it, its definition version and an enabled switch. */
export default function WorkflowList() {
  const client = useQueryClient();
  const me = useMe();
  const workflows = useWorkflows();
  const [notice, setNotice] = useState<string | null>(null);
  const toggle = useMutation({
    // The whole definition goes back unchanged (no new version); If-Match guards against a change meanwhile.
    mutationFn: (w: Workflow) => updateWorkflow(w.id ?? "", w.version, {
      name: w.name ?? "", enabled: !w.enabled, trigger: triggerOf(w), steps: Array.isArray(w.steps) ? (w.steps as Json[]) : [],
    }),
    onMutate: () => setNotice(null),
    onSuccess: (w) => setNotice(`${w.name ?? "The workflow"} is ${w.enabled ? "enabled: it starts new runs" : "disabled: it starts no new runs"}.`),
    onSettled: () => void client.invalidateQueries({ queryKey: ["workflows"] }),
  });
  const rows = workflows.data?.pages.flatMap((p) => p.data) ?? [];
  return (
    <section aria-labelledby="workflows-title">
      <div className="toolbar">
        <h1 id="workflows-title">Workflows</h1>
        {managesTenant(me.data?.roles) && <Link to="/workflows/new" className="button">New workflow</Link>}
      </div>
      {me.isSuccess && !managesTenant(me.data.roles) && (
        <p className="muted">Only owners and admins create and change workflows; you can look at them and their runs.</p>
      )}
      <p role="status">{notice}</p>
      {toggle.error && (
        <p role="alert" className="error">
          {toggle.error instanceof ApiError && toggle.error.status === 412
            ? "Someone else changed that workflow first: the list now shows their version. Try again." : saveFailure(toggle.error)}
        </p>
      )}
      {workflows.error && <p role="alert" className="error">{workflows.error.message}</p>}
      {workflows.isPending && <p role="status">Loading workflows…</p>}
      {workflows.isSuccess && rows.length === 0 && <p>No workflows yet. A workflow does the follow-up by itself: a task, a wait, a tag, an email.</p>}
      {rows.length > 0 && (
        <div className="table-wrap">
          <table>
            <caption className="sr-only">Workflows by name</caption>
            <thead>
              <tr><th scope="col">Name</th><th scope="col">Starts</th><th scope="col">Enabled</th><th scope="col">Version</th><th scope="col">Changed</th></tr>
            </thead>
            <tbody>
              {rows.map((w) => (
                <tr key={w.id} data-workflow={w.name}>
                  <th scope="row" data-label="Name"><Link to={`/workflows/${w.id ?? ""}`}>{w.name}</Link></th>
                  <td data-label="Starts">{triggerSummary(triggerOf(w))}</td>
                  <td data-label="Enabled">
                    <label className="check">
                      <input type="checkbox" role="switch" checked={w.enabled ?? false} disabled={toggle.isPending}
                        aria-label={`${w.enabled ? "On" : "Off"}: ${w.name ?? ""}`} onChange={() => toggle.mutate(w)} />
                      {w.enabled ? "On" : "Off"}
                    </label>
                  </td>
                  <td data-label="Version">{w.version_number}</td>
                  <td data-label="Changed">{w.updated_at ? new Date(w.updated_at).toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {workflows.hasNextPage && (
        <button type="button" className="secondary" disabled={workflows.isFetchingNextPage} onClick={() => void workflows.fetchNextPage()}>
          Load more workflows
        </button>
      )}
    </section>
  );
}
