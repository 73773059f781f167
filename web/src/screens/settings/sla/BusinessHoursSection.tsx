import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, type Schemas } from "../../../api/client";
import { ConfirmButton } from "../../../components/ConfirmButton";
import { raise } from "../problem";
import { BusinessHoursForm } from "./BusinessHoursForm";
import { useCalendars } from "./calendars";
import { summary } from "./frames";
import { jobOf } from "./recomputes";

type Calendar = Schemas["BusinessHours"];

function feedLine(c: Calendar): string | null {
  if (!c.holiday_feed_url) return null;
  if (c.feed_error) return `Holiday feed failed: ${c.feed_error}`;
  if (!c.feed_refreshed_at) return "Holiday feed: not fetched yet.";
  return `Holiday feed: ${c.feed_holidays?.length ?? 0} dates, fetched ${new Date(c.feed_refreshed_at).toLocaleString()}.`;
}

/** Business-hours calendars: list, create, edit, delete. */
export function BusinessHoursSection({ onJob }: { onJob: (job: string | null) => void }) {
  const client = useQueryClient();
  const calendars = useCalendars();
  const [editing, setEditing] = useState<string | null>(null);
  const [adding, setAdding] = useState(false);
  const remove = useMutation({
    mutationFn: async (c: Calendar) => {
      const { error, response } = await api.DELETE("/v1/business-hours/{record_id}", {
        params: { path: { record_id: c.id ?? "" } } });
      if (error) raise(error);
      return jobOf(response);
    },
    onSuccess: (job) => onJob(job),
    onSettled: () => void client.invalidateQueries({ queryKey: ["business-hours"] }),
  });
  return (
    <section aria-labelledby="calendars-title">
      <h3 id="calendars-title">Business hours</h3>
      {calendars.error && <p role="alert" className="error">{calendars.error.message}</p>}
      {remove.error && <p role="alert" className="error">{remove.error.message}</p>}
      {calendars.data?.length === 0 && <p className="muted">No calendars yet: SLA targets count around the clock (UTC).</p>}
      <ul className="inbox">
        {(calendars.data ?? []).map((c) => (
          <li key={c.id} data-calendar={c.name}>
            {editing === c.id ? (
              <BusinessHoursForm calendar={c} onCancel={() => setEditing(null)} onSaved={(job) => { setEditing(null); onJob(job); }} />
            ) : (
              <>
                <span className="grow">
                  <strong>{c.name}</strong> {c.is_default && <span className="badge">default</span>} <span className="muted">{c.time_zone}</span>
                  <br /><span className="muted">{summary(c.frames)}</span>
                  {(c.holidays?.length ?? 0) > 0 && <><br /><span className="muted">{c.holidays?.length === 1 ? "1 holiday" : `${c.holidays?.length ?? 0} holidays`}</span></>}
                  {feedLine(c) && <><br /><span className={c.feed_error ? "error" : "muted"}>{feedLine(c)}</span></>}
                </span>
                <button type="button" className="secondary" aria-label={`Edit ${c.name}`} onClick={() => setEditing(c.id ?? null)}>Edit</button>
                <ConfirmButton label="Delete" name={`Delete ${c.name}`} question={`Delete ${c.name}?`} onConfirm={() => remove.mutate(c)} />
              </>
            )}
          </li>
        ))}
      </ul>
      {adding ? (
        <BusinessHoursForm onCancel={() => setAdding(false)} onSaved={(job) => { setAdding(false); onJob(job); }} />
      ) : (
        <button type="button" onClick={() => setAdding(true)}>Add business hours</button>
      )}
    </section>
  );
}
