import { useEffect } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { finished, percent, type Recompute, useRecentRecomputes, useRecompute } from "./recomputes";

function when(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : "";
}

/** A queued recompute followed to its end: a progress bar, then done or the error. */
export function RecomputeProgress({ id, onDismiss }: { id: string; onDismiss: () => void }) {
  const job = useRecompute(id);
  const client = useQueryClient();
  const data = job.data;
  const done = finished(data);
  useEffect(() => {
    if (done) void client.invalidateQueries({ queryKey: ["sla-recomputes"], exact: true });
  }, [done, client]);
  return (
    <div className="card recompute" role="region" aria-label="Recomputing SLA clocks">
      <p><strong>Recomputing the SLA clocks of open tickets</strong>{data?.reason ? `: ${data.reason}` : ""}</p>
      {job.error && <p role="alert" className="error">{job.error.message}</p>}
      {data && (
        <>
          <label htmlFor={`recompute-${id}`}>Progress</label>
          <progress id={`recompute-${id}`} max={100} value={percent(data)} aria-valuetext={`${data.tickets_done ?? 0} of ${data.tickets_total ?? 0} tickets`} />
          <p role="status" data-testid="recompute-status">
            {data.status === "completed" && `Done: ${data.tickets_done ?? 0} of ${data.tickets_total ?? 0} tickets recomputed.`}
            {data.status === "running" && `${data.tickets_done ?? 0} of ${data.tickets_total ?? 0} tickets…`}
            {data.status === "queued" && `Queued: ${data.tickets_total ?? 0} tickets.`}
            {data.status === "failed" && `Failed after ${data.tickets_done ?? 0} of ${data.tickets_total ?? 0} tickets.`}
          </p>
          {data.status === "failed" && <p role="alert" className="error">{data.error ?? "The job failed."}</p>}
        </>
      )}
      {done && <button type="button" className="secondary" onClick={onDismiss}>Close</button>}
    </div>
  );
}

function line(job: Recompute): string {
  return `${job.status ?? ""} · ${job.tickets_done ?? 0}/${job.tickets_total ?? 0} tickets`;
}

/** The latest recompute jobs of the tenant, newest first. */
export function RecentRecomputes() {
  const jobs = useRecentRecomputes();
  return (
    <section aria-labelledby="recomputes-title">
      <h3 id="recomputes-title">Recent recomputes</h3>
      {jobs.error && <p role="alert" className="error">{jobs.error.message}</p>}
      {jobs.data?.length === 0 && <p className="muted">No recompute jobs yet: small changes recompute at once.</p>}
      <ul className="inbox">
        {(jobs.data ?? []).map((job) => (
          <li key={job.id} data-recompute={job.id}>
            <span className="grow">{job.reason}<br /><span className="muted">{when(job.created_at)}</span></span>
            <span className={job.status === "failed" ? "badge danger" : "badge"}>{line(job)}</span>
            {job.error && <span className="error">{job.error}</span>}
          </li>
        ))}
      </ul>
    </section>
  );
}
