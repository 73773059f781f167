import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useId, useState } from "react";
import { api, describe, type Schemas } from "../../api/client";

type Kind = "note" | "call" | "email" | "meeting";
const KINDS: [Kind, string][] = [["note", "Note"], ["call", "Call"], ["email", "Email"], ["meeting", "Meeting"]];

/** What the form holds as the activity the API takes (each kind's required fields are the API's). */
export function activityBody(kind: Kind, data: FormData): Schemas["DealActivityCreate"] {
  const get = (name: string) => String(data.get(name) ?? "").trim();
  const body: Schemas["DealActivityCreate"] = { type: kind };
  if (get("subject")) body.subject = get("subject");
  if (get("body")) body.body = get("body");
  if (kind === "call" || kind === "email") body.direction = get("direction") === "inbound" ? "inbound" : "outbound";
  if (kind === "meeting" && get("starts_at")) body.starts_at = new Date(get("starts_at")).toISOString();
  return body;
}

/** The deal's activities (posted on it, or naming it), newest first, and a form to log one. */
export function DealTimeline({ dealId }: { dealId: string }) {
  const client = useQueryClient();
  const id = useId();
  const key = ["deal-activities", dealId];
  const [kind, setKind] = useState<Kind>("note");
  const activities = useQuery({
    queryKey: key,
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/deals/{parent_id}/activities", { params: { path: { parent_id: dealId }, query: { limit: 50 } } });
      if (error) throw new Error(describe(error));
      return data.data ?? [];
    },
  });
  const add = useMutation({
    mutationFn: async (body: Schemas["DealActivityCreate"]) => {
      const { error } = await api.POST("/v1/deals/{parent_id}/activities", { params: { path: { parent_id: dealId } }, body });
      if (error) throw new Error(describe(error));
    },
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: key });
      void client.invalidateQueries({ queryKey: ["deal", dealId] });
    },
  });
  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    add.mutate(activityBody(kind, new FormData(form)), { onSuccess: () => form.reset() });
  }
  return (
    <section aria-labelledby="deal-timeline-title">
      <h2 id="deal-timeline-title">Timeline</h2>
      <form onSubmit={submit} className="card" aria-label="Log an activity">
        <label htmlFor={`${id}-kind`}>Kind</label>
        <select id={`${id}-kind`} name="type" value={kind} onChange={(e) => setKind(e.target.value as Kind)}>
          {KINDS.map(([k, label]) => <option key={k} value={k}>{label}</option>)}
        </select>
        {kind !== "note" && (
          <>
            <label htmlFor={`${id}-subject`}>Subject</label>
            <input id={`${id}-subject`} name="subject" />
          </>
        )}
        {(kind === "call" || kind === "email") && (
          <>
            <label htmlFor={`${id}-direction`}>Direction</label>
            <select id={`${id}-direction`} name="direction" defaultValue="outbound">
              <option value="outbound">Outbound</option>
              <option value="inbound">Inbound</option>
            </select>
          </>
        )}
        {kind === "meeting" && (
          <>
            <label htmlFor={`${id}-starts`}>Starts at</label>
            <input id={`${id}-starts`} name="starts_at" type="datetime-local" />
          </>
        )}
        <label htmlFor={`${id}-body`}>What happened</label>
        <textarea id={`${id}-body`} name="body" rows={3} />
        {add.error && <p role="alert" className="error">{add.error.message}</p>}
        <button type="submit" disabled={add.isPending}>Add to timeline</button>
      </form>
      {activities.error && <p role="alert" className="error">{activities.error.message}</p>}
      <ol className="timeline" aria-label="Activities">
        {(activities.data ?? []).map((a) => (
          <li key={a.id} data-activity={a.type}>
            <strong>{a.type}</strong> <time dateTime={a.occurred_at ?? a.created_at}>{new Date(a.occurred_at ?? a.created_at ?? "").toLocaleString()}</time>
            {a.subject && <p><strong>{a.subject}</strong></p>}
            {a.body && <p>{a.body}</p>}
          </li>
        ))}
      </ol>
    </section>
  );
}
