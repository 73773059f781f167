import { type FormEvent, useState } from "react";
import type { Ticket } from "../../api/client";
import { useDirectory, useTeams } from "../../api/directory";
import { displayName } from "./mentions";
import { useTicketUpdate } from "./useTicketUpdate";

const STATUSES = ["new", "open", "pending", "on_hold", "resolved", "closed"] as const;
const PRIORITIES = ["low", "normal", "high", "urgent"] as const;
type Status = (typeof STATUSES)[number];
type Priority = (typeof PRIORITIES)[number];

/** Status, assignee, team, priority and tags: each change is saved at once (If-Match). */
export function TicketProperties({ ticket }: { ticket: Ticket }) {
  const id = ticket.id ?? "";
  const update = useTicketUpdate(id);
  const people = useDirectory();
  const teams = useTeams();
  const [tag, setTag] = useState("");
  const tags = ticket.tags ?? [];

  function addTag(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const value = tag.trim();
    if (!value) return;
    update.mutate({ tags: [...tags, value] }, { onSuccess: () => setTag("") });
  }

  return (
    <section aria-labelledby="ticket-properties" className="card ticket-properties">
      <h2 id="ticket-properties">Details</h2>
      <div className="field">
        <label htmlFor="ticket-status">Status</label>
        <select id="ticket-status" value={ticket.status ?? "open"} onChange={(e) => update.mutate({ status: e.target.value as Status })}>
          {STATUSES.map((s) => <option key={s} value={s}>{s.replace("_", " ")}</option>)}
        </select>
      </div>
      <div className="field">
        <label htmlFor="ticket-assignee">Assignee</label>
        <select id="ticket-assignee" value={ticket.assignee_id ?? ""} disabled={people.isPending}
          onChange={(e) => update.mutate({ assignee_id: e.target.value || null })}>
          <option value="">Unassigned</option>
          {(people.data ?? []).map((p) => <option key={p.id} value={p.id}>{displayName(p)}</option>)}
          {ticket.assignee_id && people.isSuccess && !people.data.some((p) => p.id === ticket.assignee_id) && (
            <option value={ticket.assignee_id}>A former user</option>
          )}
        </select>
      </div>
      <div className="field">
        <label htmlFor="ticket-team">Team</label>
        <select id="ticket-team" value={ticket.team_id ?? ""} disabled={teams.isPending}
          onChange={(e) => update.mutate({ team_id: e.target.value || null })}>
          <option value="">No team</option>
          {(teams.data ?? []).map((t) => <option key={t.id} value={t.id}>{t.name}</option>)}
        </select>
      </div>
      <div className="field">
        <label htmlFor="ticket-priority">Priority</label>
        <select id="ticket-priority" value={ticket.priority ?? "normal"} onChange={(e) => update.mutate({ priority: e.target.value as Priority })}>
          {PRIORITIES.map((p) => <option key={p} value={p}>{p}</option>)}
        </select>
      </div>
      <div>
        <h3 id="ticket-tags">Tags</h3>
        <ul className="tags" aria-labelledby="ticket-tags">
          {tags.map((t) => (
            <li key={t} className="badge">
              {t}{" "}
              <button type="button" className="link" aria-label={`Remove tag ${t}`}
                onClick={() => update.mutate({ tags: tags.filter((x) => x !== t) })}>×</button>
            </li>
          ))}
          {tags.length === 0 && <li className="muted">No tags</li>}
        </ul>
        <form onSubmit={addTag} className="inline" aria-label="Add a tag">
          <label htmlFor="ticket-new-tag" className="sr-only">New tag</label>
          <input id="ticket-new-tag" value={tag} maxLength={100} onChange={(e) => setTag(e.target.value)} placeholder="New tag" />
          <button type="submit" className="secondary" disabled={update.isPending}>Add tag</button>
        </form>
      </div>
      {update.error && <p role="alert" className="error">{update.error.message}</p>}
      {people.error && <p role="alert" className="error">Users: {people.error.message}</p>}
    </section>
  );
}
