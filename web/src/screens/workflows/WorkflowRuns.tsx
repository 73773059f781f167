import { Fragment, useState } from "react";
import { Link } from "react-router-dom";
import { SelectField } from "../settings/Controls";
import { recordPath } from "./definition";
import { RunStatusBadge } from "./RunStatusBadge";
import { when, WorkflowRunDetail } from "./WorkflowRunDetail";
import { RUN_STATUSES, type RunStatus, useRuns } from "./workflowsApi";

/** The workflow's runs, newest first, by status, a page at a time; a run opens in place. */
export function WorkflowRuns({ workflowId }: { workflowId: string }) {
  const [status, setStatus] = useState<RunStatus | "">("");
  const [open, setOpen] = useState<string | null>(null);
  const runs = useRuns(workflowId, status);
  const rows = runs.data?.pages.flatMap((p) => p.data) ?? [];
  return (
    <section aria-labelledby="runs-title" className="workflow-runs">
      <div className="toolbar">
        <h2 id="runs-title">Run history</h2>
        <SelectField label="Show runs" value={status} onChange={(e) => setStatus(e.target.value as RunStatus | "")}>
          <option value="">of every status</option>
          {RUN_STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
        </SelectField>
      </div>
      {runs.error && <p role="alert" className="error">{runs.error.message}</p>}
      {runs.isPending && <p role="status">Loading the runs…</p>}
      {runs.isSuccess && rows.length === 0 && <p className="muted">No runs{status ? ` ${status}` : " yet"}.</p>}
      {rows.length > 0 && (
        <div className="table-wrap">
          <table>
            <caption className="sr-only">Runs, newest first</caption>
            <thead>
              <tr><th scope="col">Status</th><th scope="col">Record</th><th scope="col">Started</th><th scope="col">Finished</th>
                <th scope="col">Error</th><th scope="col"><span className="sr-only">Details</span></th></tr>
            </thead>
            <tbody>
              {rows.map((r) => {
                const path = recordPath(r.record_type, r.record_id);
                const record = r.record_id ? `${r.record_type ?? "record"} ${r.record_id}` : "—";
                const started = when(r.created_at);
                return (
                  <Fragment key={r.id}>
                    <tr data-run={r.id} data-status={r.status}>
                      <td data-label="Status"><RunStatusBadge status={r.status} /></td>
                      <td data-label="Record" className="break">{path ? <Link to={path}>{record}</Link> : record}</td>
                      <td data-label="Started">{started}</td>
                      <td data-label="Finished">{when(r.finished_at) || (r.waiting_until ? `waiting until ${when(r.waiting_until)}` : "")}</td>
                      <td data-label="Error" className="break">{r.error ?? ""}</td>
                      <td data-label="Details">
                        <button type="button" className="secondary" aria-expanded={open === r.id}
                          aria-label={`Details of the ${r.status ?? ""} run started ${started}`}
                          onClick={() => setOpen(open === r.id ? null : r.id ?? null)}>Details</button>
                      </td>
                    </tr>
                    {open === r.id && (
                      <tr><td colSpan={6}><WorkflowRunDetail runId={r.id ?? ""} workflowId={workflowId} /></td></tr>
                    )}
                  </Fragment>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {runs.hasNextPage && (
        <button type="button" className="secondary" disabled={runs.isFetchingNextPage} onClick={() => void runs.fetchNextPage()}>
          {runs.isFetchingNextPage ? "Loading…" : "Load more runs"}
        </button>
      )}
    </section>
  );
}
