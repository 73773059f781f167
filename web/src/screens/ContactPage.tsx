import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { Link, useParams } from "react-router-dom";
import { api, type Contact, describe, etag } from "../api/client";

class Conflict extends Error {}

const EDITABLE = [
  { key: "first_name", label: "First name" },
  { key: "last_name", label: "Last name" },
  { key: "email", label: "Email" },
  { key: "phone", label: "Phone" },
] as const;
type EditableKey = (typeof EDITABLE)[number]["key"];

export default function ContactPage() {
  const { id = "" } = useParams();
  const contact = useQuery({
    queryKey: ["contact", id],
    queryFn: async () => {
      const { data, error, response } = await api.GET("/v1/contacts/{record_id}", { params: { path: { record_id: id } } });
      if (error) throw new Error(response.status === 404 ? "There is no such contact." : describe(error));
      return data;
    },
  });
  if (contact.isPending) return <p role="status">Loading…</p>;
  if (contact.error) return <p role="alert" className="error">{contact.error.message} <Link to="/contacts">Back to contacts</Link></p>;
  const c = contact.data;
  return (
    <article aria-labelledby="contact-title">
      <p><Link to="/contacts">← Contacts</Link></p>
      <h1 id="contact-title">{[c.first_name, c.last_name].filter(Boolean).join(" ") || c.email || "Contact"}</h1>
      <dl className="fields">
        {EDITABLE.map((f) => (
          <InPlace key={f.key} contact={c} field={f.key} label={f.label} />
        ))}
        <dt>Stage</dt>
        <dd>{c.lifecycle_stage ?? "—"}</dd>
        <dt>Tags</dt>
        <dd>{(c.tags ?? []).join(", ") || "—"}</dd>
      </dl>
      <Timeline contactId={c.id ?? id} />
    </article>
  );
}

/** A field edited where it is shown, guarded by If-Match: someone else's change first is a 412
 * with a clear message, never a silent overwrite. */
function InPlace({ contact, field, label }: { contact: Contact; field: EditableKey; label: string }) {
  const client = useQueryClient();
  const [editing, setEditing] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const save = useMutation({
    mutationFn: async (value: string) => {
      const { data, error, response } = await api.PATCH("/v1/contacts/{record_id}", {
        params: { path: { record_id: contact.id ?? "" }, header: { "If-Match": etag(contact.version) } },
        body: { [field]: value || null },
      });
      if (response.status === 412) throw new Conflict("Someone else changed this contact first. The page now shows their version; make your change again.");
      if (error) throw new Error(describe(error));
      return data;
    },
    onSuccess: (data) => {
      client.setQueryData(["contact", contact.id], data);
      setEditing(false);
      setMessage(null);
    },
    onError: (e) => {
      setMessage(e.message);
      if (e instanceof Conflict) setEditing(false); // show their value, not the stale draft
      void client.invalidateQueries({ queryKey: ["contact", contact.id] });
    },
  });

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    save.mutate(String(new FormData(event.currentTarget).get("value") ?? "").trim());
  }

  const current = String(contact[field] ?? "");
  return (
    <>
      <dt id={`f-${field}`}>{label}</dt>
      <dd>
        {editing ? (
          <form onSubmit={submit} className="inline">
            <input name="value" defaultValue={current} aria-labelledby={`f-${field}`} autoFocus />
            <button type="submit" disabled={save.isPending}>Save</button>
            <button type="button" className="link" onClick={() => setEditing(false)}>Cancel</button>
          </form>
        ) : (
          <button type="button" className="value" onClick={() => setEditing(true)} aria-label={`Edit ${label}: ${current || "empty"}`}>
            {current || "—"}
          </button>
        )}
        {message && <p role="alert" className="error">{message}</p>}
      </dd>
    </>
  );
}

function Timeline({ contactId }: { contactId: string }) {
  const client = useQueryClient();
  const key = ["activities", contactId];
  const activities = useQuery({
    queryKey: key,
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/contacts/{parent_id}/activities", {
        params: { path: { parent_id: contactId }, query: { limit: 50 } },
      });
      if (error) throw new Error(describe(error));
      return data.data ?? [];
    },
  });
  const add = useMutation({
    mutationFn: async (body: { type: "note" | "call"; body: string }) => {
      const { error } = await api.POST("/v1/contacts/{parent_id}/activities", { params: { path: { parent_id: contactId } }, body });
      if (error) throw new Error(describe(error));
    },
    onSuccess: () => void client.invalidateQueries({ queryKey: key }),
  });

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    const text = String(data.get("body") ?? "").trim();
    if (!text) return;
    add.mutate({ type: data.get("type") === "call" ? "call" : "note", body: text }, { onSuccess: () => form.reset() });
  }

  return (
    <section aria-labelledby="timeline-title">
      <h2 id="timeline-title">Timeline</h2>
      <form onSubmit={submit} className="card" aria-label="Log an activity">
        <label htmlFor="activity-type">Kind</label>
        <select id="activity-type" name="type" defaultValue="note">
          <option value="note">Note</option>
          <option value="call">Call</option>
        </select>
        <label htmlFor="activity-body">What happened</label>
        <textarea id="activity-body" name="body" rows={3} />
        {add.error && <p role="alert" className="error">{add.error.message}</p>}
        <button type="submit" disabled={add.isPending}>Add to timeline</button>
      </form>
      <ol className="timeline">
        {(activities.data ?? []).map((a) => (
          <li key={a.id}>
            <strong>{a.type}</strong> <time dateTime={a.occurred_at ?? a.created_at}>{new Date(a.occurred_at ?? a.created_at ?? "").toLocaleString()}</time>
            <p>{a.subject ?? a.body}</p>
          </li>
        ))}
      </ol>
    </section>
  );
}
