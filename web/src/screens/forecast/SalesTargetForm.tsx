import { useMutation, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { api, describe, etag } from "../../api/client";
import { displayName, type Person } from "../tickets/mentions";

interface Props {
  kind: "month" | "quarter";
  periods: string[];
  people: Person[];
}

/** Set an owner's quota for one period: updates the target the owner has for it, else creates one. */
export function SalesTargetForm({ kind, periods, people }: Props) {
  const client = useQueryClient();
  const [notice, setNotice] = useState<string | null>(null);
  const save = useMutation({
    mutationFn: async (v: { owner_id: string; period_start: string; amount: string }) => {
      const found = await api.GET("/v1/sales-targets", { params: { query: { owner_id: v.owner_id, period: kind, limit: 200 } } });
      if (found.error) throw new Error(describe(found.error));
      const existing = (found.data.data ?? []).find((t) => t.period_start === v.period_start);
      if (existing) {
        const { error } = await api.PATCH("/v1/sales-targets/{record_id}", {
          params: { path: { record_id: existing.id ?? "" }, header: { "If-Match": etag(existing.version) } },
          body: { amount: v.amount },
        });
        if (error) throw new Error(describe(error));
      } else {
        const { error } = await api.POST("/v1/sales-targets", { body: { ...v, period: kind } });
        if (error) throw new Error(describe(error));
      }
      return v;
    },
    onSuccess: (v) => {
      const who = people.find((p) => p.id === v.owner_id);
      setNotice(`Target for ${who ? displayName(who) : "the owner"} in ${v.period_start}: ${v.amount}`);
      void client.invalidateQueries({ queryKey: ["forecast"] });
    },
    onError: () => setNotice(null),
  });

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    save.mutate({
      owner_id: String(data.get("owner_id") ?? ""),
      period_start: String(data.get("period_start") ?? ""),
      amount: String(data.get("amount") ?? "").trim().replace(",", "."),
    });
  }

  return (
    <form className="card filters" onSubmit={submit} aria-labelledby="target-title">
      <h2 id="target-title" className="full">Set a target</h2>
      <div className="field">
        <label htmlFor="target-owner">Owner</label>
        <select id="target-owner" name="owner_id" required>
          {people.map((p) => <option key={p.id} value={p.id}>{displayName(p)}</option>)}
        </select>
      </div>
      <div className="field">
        <label htmlFor="target-period">{kind === "month" ? "Month" : "Quarter"}</label>
        <select id="target-period" name="period_start" required>
          {periods.map((p) => <option key={p} value={p}>{p}</option>)}
        </select>
      </div>
      <div className="field">
        <label htmlFor="target-amount">Target (base currency)</label>
        <input id="target-amount" name="amount" inputMode="decimal" required pattern="\d{1,16}([.,]\d{1,2})?" />
      </div>
      <button type="submit" disabled={save.isPending || people.length === 0}>Set target</button>
      <p role="status" className="full">{notice}</p>
      {save.error && <p role="alert" className="error full">{save.error.message}</p>}
    </form>
  );
}
