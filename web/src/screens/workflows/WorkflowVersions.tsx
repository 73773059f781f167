import { useState } from "react";
import type { Json } from "./definition";
import { useVersions } from "./workflowsApi";

/** The saved definitions, newest first; one is taken into the form (saving it makes it current). */
export function WorkflowVersions({ workflowId, current, onLoad }: { workflowId: string; current: number | undefined; onLoad: (n: number, d: Json) => void }) {
  const [open, setOpen] = useState(false);
  const versions = useVersions(workflowId, current, open);
  return (
    <details className="versions" onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>Earlier versions of the definition</summary>
      {versions.error && <p role="alert" className="error">{versions.error.message}</p>}
      {versions.isFetching && <p role="status">Loading the versions…</p>}
      <ul className="inbox">
        {(versions.data ?? []).map((v) => (
          <li key={v.number}>
            <span className="grow">Version {v.number}{v.number === current ? " (current)" : ""} · {v.created_at ? new Date(v.created_at).toLocaleString() : ""}</span>
            {v.number !== current && (
              <button type="button" className="secondary" onClick={() => onLoad(v.number ?? 0, v.definition ?? {})}>
                Put version {v.number} in the form
              </button>
            )}
          </li>
        ))}
      </ul>
    </details>
  );
}
