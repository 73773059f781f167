import { useQuery } from "@tanstack/react-query";
import { api, describe } from "../../api/client";
import { SlaBadge } from "../../components/SlaBadge";

const NAMES: Record<string, string> = { first_response: "First response", next_response: "Next response", resolution: "Resolution" };

function at(value: string | null | undefined): string {
  return value ? new Date(value).toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : "";
}

/** The ticket's SLA targets (/v1/tickets/{id}/sla), each with its countdown and the API's reason. */
export function TicketSlaTargets({ ticketId }: { ticketId: string }) {
  const sla = useQuery({
    queryKey: ["ticket-sla", ticketId],
    refetchInterval: 60_000,
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/tickets/{ticket_id}/sla", { params: { path: { ticket_id: ticketId } } });
      if (error) throw new Error(describe(error));
      return data;
    },
  });
  const policy = sla.data?.policy;
  const policyName = policy && typeof policy["name"] === "string" ? policy["name"] : null;
  return (
    <section aria-labelledby="ticket-sla" className="card">
      <h2 id="ticket-sla">SLA targets</h2>
      {sla.error && <p role="alert" className="error">{sla.error.message}</p>}
      {sla.isPending && <p role="status">Loading the SLA…</p>}
      {sla.data && (
        <>
          <p className="muted">{policyName ? `Policy: ${policyName}` : "No SLA policy applies to this ticket."}</p>
          <ul className="sla-targets">
            {(sla.data.targets ?? []).map((t) => (
              <li key={`${t.target}-${t.cycle}`} data-target={t.target}>
                <strong>{NAMES[t.target ?? ""] ?? t.target}</strong>{" "}
                <SlaBadge dueAt={t.due_at} breached={t.breached} paused={t.paused} metAt={t.met_at} />
                <span className="muted">
                  {t.met_at ? ` met ${at(t.met_at)}` : t.due_at ? ` due ${at(t.due_at)}` : ""}
                  {t.paused && t.paused_by ? ` (paused while ${t.paused_by.replace("_", " ")})` : ""}
                </span>
                {t.why?.text && <p className="muted sla-why">{t.why.text}</p>}
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
