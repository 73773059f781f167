import { useQuery } from "@tanstack/react-query";
import { api, describe, type Stage } from "../../api/client";
import { ownerLabel, useOwners } from "../board/useOwners";
import { describeChange } from "./history";

/** The deal's change log as the API keeps it, newest first. */
export function DealHistory({ dealId, stages }: { dealId: string; stages: Stage[] }) {
  const owners = useOwners();
  const history = useQuery({
    queryKey: ["deal-history", dealId],
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/deals/{deal_id}/history", { params: { path: { deal_id: dealId }, query: { limit: 50 } } });
      if (error) throw new Error(describe(error));
      return data.data ?? [];
    },
  });
  const rows = history.data ?? [];
  return (
    <section aria-labelledby="history-title">
      <h2 id="history-title">History</h2>
      {history.error && <p role="alert" className="error">{history.error.message}</p>}
      {history.isSuccess && rows.length === 0 && <p className="muted">No changes yet.</p>}
      <ol className="timeline" aria-label="Changes">
        {rows.map((entry) => (
          <li key={entry.id} data-field={entry.field}>
            {describeChange(entry, stages, (id) => ownerLabel(owners, id))}{" "}
            <time className="muted" dateTime={entry.changed_at}>{new Date(entry.changed_at ?? "").toLocaleString()}</time>
          </li>
        ))}
      </ol>
    </section>
  );
}
