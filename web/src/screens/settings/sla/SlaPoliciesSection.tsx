import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, type Schemas } from "../../../api/client";
import { ConfirmButton } from "../../../components/ConfirmButton";
import { raise } from "../problem";
import { useCalendars, usePolicies } from "./calendars";
import { jobOf } from "./recomputes";
import { SlaPolicyForm } from "./SlaPolicyForm";

type Policy = Schemas["SlaPolicy"];

function targets(p: Policy): string {
  const parts = [["first response", p.first_response_minutes], ["next response", p.next_response_minutes],
    ["resolution", p.resolution_minutes]] as const;
  return parts.filter(([, m]) => m).map(([label, m]) => `${label} ${m} min`).join(", ");
}

/** SLA policies in the order they are tried: list, create, edit, delete. */
export function SlaPoliciesSection({ onJob }: { onJob: (job: string | null) => void }) {
  const client = useQueryClient();
  const policies = usePolicies();
  const calendars = useCalendars();
  const [editing, setEditing] = useState<string | null>(null);
  const [adding, setAdding] = useState(false);
  const calendarName = (id: string | null | undefined) =>
    id ? calendars.data?.find((c) => c.id === id)?.name ?? "a calendar" : "the default calendar";
  const nextPosition = Math.max(0, ...(policies.data ?? []).map((p) => p.position ?? 0)) + 10;
  const remove = useMutation({
    mutationFn: async (p: Policy) => {
      const { error, response } = await api.DELETE("/v1/sla-policies/{record_id}", {
        params: { path: { record_id: p.id ?? "" } } });
      if (error) raise(error);
      return jobOf(response);
    },
    onSuccess: (job) => onJob(job),
    onSettled: () => void client.invalidateQueries({ queryKey: ["sla-policies"] }),
  });
  return (
    <section aria-labelledby="policies-title">
      <h3 id="policies-title">SLA policies</h3>
      {policies.error && <p role="alert" className="error">{policies.error.message}</p>}
      {remove.error && <p role="alert" className="error">{remove.error.message}</p>}
      {policies.data?.length === 0 && <p className="muted">No policies yet: tickets have no SLA clocks.</p>}
      <ol className="inbox">
        {(policies.data ?? []).map((p) => (
          <li key={p.id} data-policy={p.name}>
            {editing === p.id ? (
              <SlaPolicyForm policy={p} nextPosition={nextPosition} onCancel={() => setEditing(null)}
                onSaved={(job) => { setEditing(null); onJob(job); }} />
            ) : (
              <>
                <span className="grow">
                  <strong>{p.position}. {p.name}</strong> <span className="muted">in {calendarName(p.business_hours_id)}</span>
                  <br /><code>{p.condition || "every ticket"}</code>
                  <br /><span className="muted">{targets(p)} · warns at {p.warning_threshold}%</span>
                </span>
                <button type="button" className="secondary" aria-label={`Edit policy ${p.name}`} onClick={() => setEditing(p.id ?? null)}>Edit</button>
                <ConfirmButton label="Delete" name={`Delete policy ${p.name}`} question={`Delete the policy ${p.name}?`}
                  onConfirm={() => remove.mutate(p)} />
              </>
            )}
          </li>
        ))}
      </ol>
      {adding ? (
        <SlaPolicyForm nextPosition={nextPosition} onCancel={() => setAdding(false)} onSaved={(job) => { setAdding(false); onJob(job); }} />
      ) : (
        <button type="button" onClick={() => setAdding(true)}>Add an SLA policy</button>
      )}
    </section>
  );
}
