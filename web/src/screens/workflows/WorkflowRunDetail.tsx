import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ConfirmButton } from "../../components/ConfirmButton";
import { messageOf } from "../settings/problem";
import { stepLabel } from "./definition";
import { RunStatusBadge } from "./RunStatusBadge";
import { cancelRun, retryRun, type RunStep, useRun } from "./workflowsApi";

export function when(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : "";
}

function took(step: RunStep): string {
  if (!step.started_at || !step.finished_at) return "";
  const ms = new Date(step.finished_at).getTime() - new Date(step.started_at).getTime();
  return ms < 1000 ? ` (${ms} ms)` : ` (${Math.round(ms / 100) / 10} s)`;
}

function Payload({ label, value }: { label: string; value: unknown }) {
  if (value === null || value === undefined) return null;
  return (
    <details>
      <summary>{label}</summary>
      <pre className="payload" tabIndex={0} aria-label={label}>{JSON.stringify(value, null, 2)}</pre>
    </details>
  );
}

/** One run: every step's status, attempts, timing, input, output and error; retry a failed run
 * from its failed step, or cancel one that is running or waiting. */
export function WorkflowRunDetail({ runId, workflowId }: { runId: string; workflowId: string }) {
  const client = useQueryClient();
  const run = useRun(runId);
  const [notice, setNotice] = useState<string | null>(null);
  const act = useMutation({
    mutationFn: (what: "retry" | "cancel") => (what === "retry" ? retryRun(runId) : cancelRun(runId)),
    onMutate: () => setNotice(null),
    onSuccess: (detail, what) => {
      client.setQueryData(["workflow-run", runId], detail);
      setNotice(what === "retry" ? `Retrying from step ${detail.current_step ?? ""}.` : "The run is cancelled.");
    },
    onSettled: () => {
      void client.invalidateQueries({ queryKey: ["workflow-runs", workflowId] });
      void client.invalidateQueries({ queryKey: ["workflow-run", runId] });
    },
  });
  const r = run.data;
  return (
    <div className="details run-detail" role="region" aria-label={`Run ${runId}`}>
      {run.error && <p role="alert" className="error">{run.error.message}</p>}
      {act.error && <p role="alert" className="error">{messageOf(act.error)}</p>}
      <p role="status">{notice}</p>
      {r && (
        <>
          <p>
            <RunStatusBadge status={r.status} /> on definition version {r.workflow_version}
            {r.current_step && r.status !== "completed" ? ` · at step ${r.current_step}` : ""}
            {r.waiting_until ? ` · waiting until ${when(r.waiting_until)}` : ""}
          </p>
          {r.error && <p className="error">Error: {r.error}</p>}
          <div className="inline">
            {r.status === "failed" && r.current_step && (
              <button type="button" disabled={act.isPending} onClick={() => act.mutate("retry")}>Retry from the failed step</button>
            )}
            {(r.status === "running" || r.status === "waiting") && (
              <ConfirmButton label="Cancel run" question="Stop this run? Its remaining steps will not run."
                busy={act.isPending} onConfirm={() => act.mutate("cancel")} />
            )}
          </div>
          <Payload label="What started it" value={r.trigger} />
          <ol className="run-steps" aria-label="Steps of the run">
            {(r.steps ?? []).map((s) => (
              <li key={`${s.sequence ?? 0}-${s.step_id ?? ""}`} data-step={s.step_id}>
                <p>
                  <strong>{s.step_id}</strong> ({stepLabel(s.type ?? "")}) <RunStatusBadge status={s.status} />{" "}
                  <span className="muted">
                    {s.attempts ?? 0} {s.attempts === 1 ? "attempt" : "attempts"}
                    {s.started_at ? ` · started ${when(s.started_at)}` : ""}{s.finished_at ? ` · finished ${when(s.finished_at)}${took(s)}` : ""}
                  </span>
                </p>
                {s.error && <p className="error">Error: {s.error}</p>}
                <Payload label={`Input of ${s.step_id ?? "the step"}`} value={s.input} />
                <Payload label={`Output of ${s.step_id ?? "the step"}`} value={s.output} />
              </li>
            ))}
          </ol>
          {(r.steps ?? []).length === 0 && <p className="muted">No step has run yet.</p>}
        </>
      )}
    </div>
  );
}
