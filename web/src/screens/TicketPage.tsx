import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { Link, useParams } from "react-router-dom";
import { api, describe, etag, type Message } from "../api/client";
import { SlaBadge } from "./Tickets";

/** Who wrote a message, in words: a name, else an address, else what they are. */
export function authorOf(m: Message): string {
  const a = m.author;
  return a?.name || a?.email || (a?.type === "customer" ? "the customer" : a?.type === "system" ? "the system" : "an agent");
}

const STATUSES = ["new", "open", "pending", "on_hold", "resolved", "closed"] as const;
type Status = (typeof STATUSES)[number];

export default function TicketPage() {
  const { id = "" } = useParams();
  const client = useQueryClient();
  const ticket = useQuery({
    queryKey: ["ticket", id],
    queryFn: async () => {
      const { data, error, response } = await api.GET("/v1/tickets/{record_id}", { params: { path: { record_id: id } } });
      if (error) throw new Error(response.status === 404 ? "There is no such ticket." : describe(error));
      return data;
    },
  });
  const messages = useQuery({
    queryKey: ["messages", id],
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/tickets/{ticket_id}/messages", {
        params: { path: { ticket_id: id }, query: { limit: 200 } },
      });
      if (error) throw new Error(describe(error));
      return data.data ?? [];
    },
  });
  const [kind, setKind] = useState<"reply" | "note">("reply");
  const send = useMutation({
    mutationFn: async (body: { kind: "reply" | "note"; text: string; status?: Status }) => {
      const { error } = await api.POST("/v1/tickets/{ticket_id}/messages", { params: { path: { ticket_id: id } }, body });
      if (error) throw new Error(describe(error));
    },
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["messages", id] });
      void client.invalidateQueries({ queryKey: ["ticket", id] });
    },
  });
  const setStatus = useMutation({
    mutationFn: async (status: Status) => {
      const { error, response } = await api.PATCH("/v1/tickets/{record_id}", {
        params: { path: { record_id: id }, header: { "If-Match": etag(ticket.data?.version) } },
        body: { status },
      });
      if (response.status === 412) throw new Error("Someone else changed this ticket first; it now shows their version.");
      if (error) throw new Error(describe(error));
    },
    onSettled: () => void client.invalidateQueries({ queryKey: ["ticket", id] }),
  });

  if (ticket.isPending) return <p role="status">Loading…</p>;
  if (ticket.error) return <p role="alert" className="error">{ticket.error.message} <Link to="/tickets">Back to tickets</Link></p>;
  const t = ticket.data;

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const text = String(new FormData(form).get("text") ?? "").trim();
    if (text) send.mutate({ kind, text }, { onSuccess: () => form.reset() });
  }

  return (
    <article aria-labelledby="ticket-title">
      <p><Link to="/tickets">← Tickets</Link></p>
      <h1 id="ticket-title"><span className="muted">#{t.number}</span> {t.subject}</h1>
      <p>
        <SlaBadge ticket={t} /> <span className="muted">{t.requester_email} · {t.priority} · {t.channel}</span>
      </p>
      <label htmlFor="ticket-status">Status</label>
      <select id="ticket-status" value={t.status ?? "open"} onChange={(e) => setStatus.mutate(e.target.value as Status)}>
        {STATUSES.map((s) => (
          <option key={s} value={s}>{s.replace("_", " ")}</option>
        ))}
      </select>
      {setStatus.error && <p role="alert" className="error">{setStatus.error.message}</p>}
      <ol className="conversation" aria-label="Conversation">
        {(messages.data ?? []).map((m) => (
          <li key={m.id} className={m.kind === "note" ? "note" : m.kind}>
            <p className="muted">
              {[m.kind === "note" ? "Internal note" : m.kind === "reply" ? "Reply" : "Customer", authorOf(m)].join(" by ")} ·{" "}
              <time dateTime={m.created_at}>{new Date(m.created_at ?? "").toLocaleString()}</time>
            </p>
            <p className="message-text">{m.text}</p>
          </li>
        ))}
      </ol>
      <form onSubmit={submit} className="card" aria-label="Answer">
        <fieldset>
          <legend>Write</legend>
          <label><input type="radio" name="kind" checked={kind === "reply"} onChange={() => setKind("reply")} /> Public reply (emailed)</label>
          <label><input type="radio" name="kind" checked={kind === "note"} onChange={() => setKind("note")} /> Internal note (@mention with @[Name](user-id))</label>
        </fieldset>
        <label htmlFor="message-text">{kind === "reply" ? "Reply to the requester" : "Note for the team"}</label>
        <textarea id="message-text" name="text" rows={4} />
        {send.error && <p role="alert" className="error">{send.error.message}</p>}
        <button type="submit" disabled={send.isPending}>{kind === "reply" ? "Send reply" : "Add note"}</button>
      </form>
    </article>
  );
}
