import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { Link, useParams } from "react-router-dom";
import { api, describe, type Message } from "../api/client";
import { useDirectory } from "../api/directory";
import { SlaBadge } from "../components/SlaBadge";
import { MentionTextarea } from "./tickets/MentionTextarea";
import { mentionParts } from "./tickets/mentions";
import { TicketProperties } from "./tickets/TicketProperties";
import { TicketSlaTargets } from "./tickets/TicketSlaTargets";

/** Who wrote a message, in words: a name, else an address, else what they are. */
export function authorOf(m: Message): string {
  const a = m.author;
  return a?.name || a?.email || (a?.type === "customer" ? "the customer" : a?.type === "system" ? "the system" : "an agent");
}

/** A message's text with its @mentions shown as names. */
function MessageText({ text }: { text: string }) {
  return (
    <p className="message-text">
      {mentionParts(text).map((p, i) =>
        p.kind === "text" ? <span key={i}>{p.text}</span> : <strong key={i} className="mention">@{p.name}</strong>,
      )}
    </p>
  );
}

export default function TicketPage() {
  const { id = "" } = useParams();
  const client = useQueryClient();
  const people = useDirectory();
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
  const [text, setText] = useState("");
  const send = useMutation({
    mutationFn: async (body: { kind: "reply" | "note"; text: string }) => {
      const { error } = await api.POST("/v1/tickets/{ticket_id}/messages", { params: { path: { ticket_id: id } }, body });
      if (error) throw new Error(describe(error));
    },
    onSuccess: (_, sent) => {
      // Clear only what was sent: the conversation may show the message (a refetch) before this
      // answer arrives, and what the user began to type meanwhile is theirs.
      setText((current) => (current.trim() === sent.text ? "" : current));
      void client.invalidateQueries({ queryKey: ["messages", id] });
      void client.invalidateQueries({ queryKey: ["ticket", id] });
      void client.invalidateQueries({ queryKey: ["ticket-sla", id] });
    },
  });

  if (ticket.isPending) return <p role="status">Loading…</p>;
  if (ticket.error) return <p role="alert" className="error">{ticket.error.message} <Link to="/tickets">Back to tickets</Link></p>;
  const t = ticket.data;

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (text.trim()) send.mutate({ kind, text: text.trim() });
  }

  return (
    <article aria-labelledby="ticket-title">
      <p><Link to="/tickets">← Tickets</Link></p>
      <h1 id="ticket-title"><span className="muted">#{t.number}</span> {t.subject}</h1>
      <p>
        <SlaBadge dueAt={t.sla_due_at} breached={t.sla_breached} />{" "}
        <span className="muted">{t.requester_email} · {t.priority} · {t.channel}</span>
      </p>
      <div className="ticket-layout">
        <div className="ticket-main">
          <ol className="conversation" aria-label="Conversation">
            {(messages.data ?? []).map((m) => (
              <li key={m.id} className={m.kind === "note" ? "note" : m.kind}>
                <p className="muted">
                  {[m.kind === "note" ? "Internal note" : m.kind === "reply" ? "Reply" : "Customer", authorOf(m)].join(" by ")} ·{" "}
                  <time dateTime={m.created_at}>{new Date(m.created_at ?? "").toLocaleString()}</time>
                </p>
                <MessageText text={m.text ?? ""} />
              </li>
            ))}
          </ol>
          <form onSubmit={submit} className="card" aria-label="Answer">
            <fieldset>
              <legend>Write</legend>
              <label><input type="radio" name="kind" checked={kind === "reply"} onChange={() => setKind("reply")} /> Public reply (emailed)</label>
              <label><input type="radio" name="kind" checked={kind === "note"} onChange={() => setKind("note")} /> Internal note (type @ to mention a colleague)</label>
            </fieldset>
            <label htmlFor="message-text">{kind === "reply" ? "Reply to the requester" : "Note for the team"}</label>
            <MentionTextarea id="message-text" value={text} onChange={setText} people={people.data ?? []} mentions={kind === "note"} />
            {kind === "reply" && <p className="muted">A reply is emailed as written; @mentions notify from internal notes.</p>}
            {send.error && <p role="alert" className="error">{send.error.message}</p>}
            <button type="submit" disabled={send.isPending}>{kind === "reply" ? "Send reply" : "Add note"}</button>
          </form>
        </div>
        <aside className="ticket-side" aria-label="Ticket details">
          <TicketProperties ticket={t} />
          <TicketSlaTargets ticketId={id} />
        </aside>
      </div>
    </article>
  );
}
