import { useQuery } from "@tanstack/react-query";
import { Link, useSearchParams } from "react-router-dom";
import { api, describe } from "../api/client";
import { useMe } from "../api/me";
import { SlaBadge } from "../components/SlaBadge";

const VIEWS = {
  mine: "Mine",
  unassigned: "Unassigned",
  breaching: "Breaching soon",
  all: "All open",
} as const;
type View = keyof typeof VIEWS;
const OPEN = "status in ('new', 'open', 'pending', 'on_hold')";

function filterOf(view: View, userId: string | null | undefined): string {
  if (view === "mine") return `${OPEN} and assignee_id = '${userId ?? "00000000-0000-0000-0000-000000000000"}'`;
  if (view === "unassigned") return `${OPEN} and assignee_id is null`;
  if (view === "breaching") {
    const soon = new Date(Date.now() + 4 * 3600_000).toISOString();
    return `${OPEN} and sla_due_at is not null and sla_due_at <= '${soon}'`;
  }
  return OPEN;
}

export default function Tickets() {
  const [params, setParams] = useSearchParams();
  const view = (params.get("view") as View | null) ?? "all";
  const me = useMe();
  const tickets = useQuery({
    queryKey: ["tickets", view, me.data?.user?.id],
    enabled: view !== "mine" || me.isSuccess,
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/tickets", {
        params: { query: { filter: filterOf(view, me.data?.user?.id), sort: view === "breaching" ? "sla_due_at" : "-created_at", limit: 100 } },
      });
      if (error) throw new Error(describe(error));
      return data.data ?? [];
    },
    refetchInterval: 30_000,
  });
  return (
    <section aria-labelledby="tickets-title">
      <div className="toolbar">
        <h1 id="tickets-title">Tickets</h1>
        <Link to="/kb">Knowledge base articles</Link>
      </div>
      <nav aria-label="Ticket views" className="tabs">
        {(Object.keys(VIEWS) as View[]).map((v) => (
          <button key={v} type="button" aria-pressed={v === view} onClick={() => setParams({ view: v })}>
            {VIEWS[v]}
          </button>
        ))}
      </nav>
      {tickets.error && <p role="alert" className="error">{tickets.error.message}</p>}
      {tickets.isPending && <p role="status">Loading tickets…</p>}
      <ul className="inbox">
        {(tickets.data ?? []).map((t) => (
          <li key={t.id}>
            <Link to={`/tickets/${t.id}`}>
              <span className="muted">#{t.number}</span> {t.subject}
            </Link>
            <span className="muted">{t.requester_email ?? ""} · {t.status} · {t.priority}</span>
            <SlaBadge dueAt={t.sla_due_at} breached={t.sla_breached} />
          </li>
        ))}
      </ul>
      {tickets.isSuccess && tickets.data.length === 0 && <p>No tickets in this view.</p>}
    </section>
  );
}
