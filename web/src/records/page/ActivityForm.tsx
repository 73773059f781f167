import { type FormEvent, useState } from "react";
import { ACTIVITY_KINDS, type ActivityCreate, type ActivityKind, activityBody, CALL_OUTCOMES, KIND_FIELDS } from "./activityBody";

interface Props {
  add: (body: ActivityCreate) => Promise<void>;
  pending: boolean;
  error: string | null;
}

/** Log a note, call, email or meeting: the form shows the fields the chosen kind takes. */
export function ActivityForm({ add, pending, error }: Props) {
  const [kind, setKind] = useState<ActivityKind>("note");
  const [problem, setProblem] = useState<string | null>(null);
  const shows = (name: string) => KIND_FIELDS[kind].includes(name);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    const body = activityBody(kind, (name) => String(data.get(name) ?? ""));
    if ("error" in body) {
      setProblem(body.error);
      return;
    }
    setProblem(null);
    try {
      await add(body);
      form.reset();
    } catch {
      // the mutation's error is shown below
    }
  }

  return (
    <form onSubmit={(e) => void submit(e)} className="card activity-form" aria-label="Log an activity" noValidate>
      <label htmlFor="activity-type">Kind</label>
      <select id="activity-type" name="type" value={kind} onChange={(e) => setKind(e.target.value as ActivityKind)}>
        {ACTIVITY_KINDS.map((k) => <option key={k.value} value={k.value}>{k.label}</option>)}
      </select>
      {shows("direction") && (
        <>
          <label htmlFor="activity-direction">Direction</label>
          <select id="activity-direction" name="direction" defaultValue="outbound">
            <option value="outbound">Outbound (we reached out)</option>
            <option value="inbound">Inbound (they reached us)</option>
          </select>
        </>
      )}
      {shows("outcome") && (
        <>
          <label htmlFor="activity-outcome">Outcome</label>
          <select id="activity-outcome" name="outcome" defaultValue="">
            <option value="">—</option>
            {CALL_OUTCOMES.map((o) => <option key={o} value={o}>{o.replaceAll("_", " ")}</option>)}
          </select>
          <label htmlFor="activity-duration">Duration (minutes)</label>
          <input id="activity-duration" name="duration_minutes" type="number" min={0} step="any" />
        </>
      )}
      {shows("subject") && (
        <>
          <label htmlFor="activity-subject">Subject</label>
          <input id="activity-subject" name="subject" />
        </>
      )}
      {shows("starts_at") && (
        <div className="pair">
          <span>
            <label htmlFor="activity-starts">Starts</label>
            <input id="activity-starts" name="starts_at" type="datetime-local" />
          </span>
          <span>
            <label htmlFor="activity-ends">Ends</label>
            <input id="activity-ends" name="ends_at" type="datetime-local" />
          </span>
        </div>
      )}
      {shows("location") && (
        <>
          <label htmlFor="activity-location">Location</label>
          <input id="activity-location" name="location" />
        </>
      )}
      {shows("occurred_at") && (
        <>
          <label htmlFor="activity-when">When (empty: now)</label>
          <input id="activity-when" name="occurred_at" type="datetime-local" />
        </>
      )}
      <label htmlFor="activity-body">{kind === "meeting" ? "Notes" : kind === "email" ? "Message" : "What happened"}</label>
      <textarea id="activity-body" name="body" rows={3} />
      {(problem ?? error) && <p role="alert" className="error">{problem ?? error}</p>}
      <button type="submit" disabled={pending}>Add to timeline</button>
    </form>
  );
}
