import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router-dom";
import { api, describe, type Schemas } from "../../api/client";

type FollowUpDeal = Schemas["FollowUpDeal"];
type FollowUpContact = Schemas["FollowUpContact"];
type Plan = { title: string; deal_id?: string; contact_id?: string };

/** Tomorrow's date (YYYY-MM-DD) in the browser's time zone. */
export function tomorrow(now: Date = new Date()): string {
  const d = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

function since(value: string | null | undefined): string {
  return value ? new Date(value).toLocaleDateString([], { dateStyle: "medium" }) : "never";
}

function money(a: FollowUpDeal["amount"]): string {
  return a ? `${a.amount} ${a.currency}` : "";
}

/** /v1/follow-ups: my deals with no next activity, my rotten deals, my contacts gone quiet; one click plans a call for tomorrow. */
export function FollowUps() {
  const client = useQueryClient();
  const [notice, setNotice] = useState<string | null>(null);
  const followUps = useQuery({
    queryKey: ["follow-ups"],
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/follow-ups");
      if (error) throw new Error(describe(error));
      return data;
    },
  });
  const plan = useMutation({
    mutationFn: async (p: Plan) => {
      const { error } = await api.POST("/v1/tasks", { body: { ...p, type: "call", due_date: tomorrow(), done: false } });
      if (error) throw new Error(describe(error));
      return p;
    },
    onSuccess: (p) => setNotice(`Planned for tomorrow: ${p.title}`),
    onError: (e) => setNotice(e.message),
    onSettled: () => {
      void client.invalidateQueries({ queryKey: ["follow-ups"] });
      void client.invalidateQueries({ queryKey: ["agenda"] });
    },
  });

  function deals(title: string, list: FollowUpDeal[] | undefined, why: (d: FollowUpDeal) => string) {
    const id = `followups-${title.toLowerCase().replace(/\W+/g, "-")}`;
    return (
      <section aria-labelledby={id}>
        <h3 id={id}>{title} <span className="muted">({list?.length ?? 0})</span></h3>
        <ul className="inbox">
          {(list ?? []).map((d) => (
            <li key={d.id} data-follow-up={d.name}>
              <span className="grow"><strong>{d.name}</strong> <span className="muted">{[money(d.amount), why(d)].filter(Boolean).join(" · ")}</span></span>
              <button type="button" disabled={plan.isPending} aria-label={`Plan a call tomorrow: ${d.name}`}
                onClick={() => plan.mutate({ title: `Follow up: ${d.name}`, deal_id: d.id ?? "" })}>Plan a call tomorrow</button>
            </li>
          ))}
        </ul>
      </section>
    );
  }

  const data = followUps.data;
  const contacts: FollowUpContact[] = data?.contacts ?? [];
  return (
    <section aria-labelledby="followups-title">
      <h2 id="followups-title">Follow-ups</h2>
      <p role="status" aria-live="polite">{notice}</p>
      {followUps.error && <p role="alert" className="error">{followUps.error.message}</p>}
      {followUps.isPending && <p role="status">Loading follow-ups…</p>}
      {data && (
        <>
          {deals("Deals with no next step", data.deals_without_next_activity, (d) => `last activity ${since(d.last_activity_at)}`)}
          {deals("Rotten deals", data.rotten_deals, (d) => `rotten since ${since(d.rots_at)}`)}
          <section aria-labelledby="followups-contacts">
            <h3 id="followups-contacts">Contacts not reached in {data.follow_up_days} days <span className="muted">({contacts.length})</span></h3>
            <ul className="inbox">
              {contacts.map((c) => {
                const name = c.name || c.email || "A contact";
                return (
                  <li key={c.id} data-follow-up={name}>
                    <Link to={`/contacts/${c.id ?? ""}`}>{name}</Link>
                    <span className="muted">last contacted {since(c.last_contacted_at)}</span>
                    <button type="button" disabled={plan.isPending} aria-label={`Plan a call tomorrow: ${name}`}
                      onClick={() => plan.mutate({ title: `Call ${name}`, contact_id: c.id ?? "" })}>Plan a call tomorrow</button>
                  </li>
                );
              })}
            </ul>
          </section>
        </>
      )}
    </section>
  );
}
