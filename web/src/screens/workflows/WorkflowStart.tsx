import { useMutation, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { TextAreaField } from "../settings/Controls";
import { messageOf } from "../settings/problem";
import { parseIds, recordNoun } from "./definition";
import { startRuns } from "./workflowsApi";

/** A manual workflow started by hand on chosen records (one run each). */
export function WorkflowStart({ workflowId, recordType, enabled }: { workflowId: string; recordType: string; enabled: boolean }) {
  const client = useQueryClient();
  const [ids, setIds] = useState("");
  const [notice, setNotice] = useState<string | null>(null);
  const start = useMutation({
    mutationFn: (recordIds: string[]) => startRuns(workflowId, recordIds),
    onMutate: () => setNotice(null),
    onSuccess: (started, recordIds) => {
      setNotice(`Started ${started.length} ${started.length === 1 ? "run" : "runs"}`
        + (started.length < recordIds.length ? ` (${recordIds.length - started.length} already started with these records)` : "") + ".");
      setIds("");
      void client.invalidateQueries({ queryKey: ["workflow-runs", workflowId] });
    },
  });

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const recordIds = parseIds(ids);
    if (recordIds.length) start.mutate(recordIds);
  }

  return (
    <form className="card wide" onSubmit={submit} aria-labelledby="start-title" noValidate>
      <h2 id="start-title">Start on records</h2>
      {!enabled && <p className="muted">The workflow is disabled: enable it and save to start it.</p>}
      <TextAreaField label={`${recordNoun(recordType)} ids (comma, space or one per line; at most 500)`} rows={2} value={ids}
        onChange={(e) => setIds(e.target.value)} />
      {start.error && <p role="alert" className="error">{messageOf(start.error)}</p>}
      <p role="status">{notice}</p>
      <div className="inline">
        <button type="submit" disabled={start.isPending || !parseIds(ids).length}>Start runs</button>
      </div>
    </form>
  );
}
