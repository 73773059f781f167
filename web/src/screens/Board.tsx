import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type DragEvent, useState } from "react";
import { api, type Deal, describe, etag, type Pipeline, type Stage } from "../api/client";

function money(value: number, currency: string): string {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency, maximumFractionDigits: 0 }).format(value);
  } catch {
    return `${value.toFixed(0)} ${currency}`;
  }
}

function amountOf(deal: Deal): number {
  return Number(deal.amount?.amount ?? 0);
}

export default function Board() {
  const pipelines = useQuery({
    queryKey: ["pipelines"],
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/pipelines", { params: { query: { limit: 100 } } });
      if (error) throw new Error(describe(error));
      return data.data ?? [];
    },
  });
  const [chosen, setChosen] = useState<string | null>(null);
  const list = pipelines.data ?? [];
  const pipeline = list.find((p) => p.id === chosen) ?? list.find((p) => p.is_default) ?? list[0];
  if (pipelines.isPending) return <p role="status">Loading pipelines…</p>;
  if (pipelines.error) return <p role="alert" className="error">{pipelines.error.message}</p>;
  if (!pipeline) return <p>No pipelines yet.</p>;
  return (
    <section aria-labelledby="board-title">
      <div className="toolbar">
        <h1 id="board-title">Pipeline</h1>
        <label htmlFor="pipeline-choice">Pipeline</label>
        <select id="pipeline-choice" value={pipeline.id} onChange={(e) => setChosen(e.target.value)}>
          {list.map((p) => (
            <option key={p.id} value={p.id}>{p.name}</option>
          ))}
        </select>
      </div>
      <Columns pipeline={pipeline} />
    </section>
  );
}

function Columns({ pipeline }: { pipeline: Pipeline }) {
  const client = useQueryClient();
  const key = ["deals", pipeline.id];
  const [notice, setNotice] = useState<string | null>(null);
  const deals = useQuery({
    queryKey: key,
    queryFn: async () => {
      const all: Deal[] = [];
      let cursor: string | undefined;
      do {
        const { data, error } = await api.GET("/v1/deals", {
          params: { query: { pipeline_id: pipeline.id ?? "", limit: 200, cursor, sort: "position" } },
        });
        if (error) throw new Error(describe(error));
        all.push(...(data.data ?? []));
        cursor = data.next_cursor ?? undefined;
      } while (cursor && all.length < 2000);
      return all;
    },
  });

  // Optimistic: the card moves at once; a 412 (changed meanwhile) or 422 (e.g. a lost reason
  // required) puts it back and says why.
  const move = useMutation({
    mutationFn: async ({ deal, stage }: { deal: Deal; stage: Stage }) => {
      const { data, error } = await api.PATCH("/v1/deals/{record_id}", {
        params: { path: { record_id: deal.id ?? "" }, header: { "If-Match": etag(deal.version) } },
        body: { stage_id: stage.id ?? "" },
      });
      if (error) throw new Error(describe(error));
      return data;
    },
    onMutate: async ({ deal, stage }) => {
      setNotice(null);
      await client.cancelQueries({ queryKey: key });
      const before = client.getQueryData<Deal[]>(key);
      client.setQueryData<Deal[]>(key, (old) => (old ?? []).map((d) => (d.id === deal.id ? { ...d, stage_id: stage.id ?? "" } : d)));
      return { before };
    },
    onError: (e, { deal, stage }, context) => {
      client.setQueryData(key, context?.before);
      setNotice(`${deal.name} stays where it was: could not move it to ${stage.name}. ${e.message}`);
    },
    onSuccess: (saved) => {
      client.setQueryData<Deal[]>(key, (old) => (old ?? []).map((d) => (d.id === saved.id ? saved : d)));
      void client.invalidateQueries({ queryKey: ["forecast"] });
    },
  });

  const stages = (pipeline.stages ?? []).filter((s) => !s.archived);
  const rows = deals.data ?? [];
  const currency = rows.find((d) => d.amount)?.amount?.currency ?? "EUR";

  function drop(event: DragEvent<HTMLElement>, stage: Stage) {
    event.preventDefault();
    const deal = rows.find((d) => d.id === event.dataTransfer.getData("text/deal-id"));
    if (deal && deal.stage_id !== stage.id) move.mutate({ deal, stage });
  }

  return (
    <>
      {notice && <p role="alert" className="error">{notice}</p>}
      {deals.error && <p role="alert" className="error">{deals.error.message}</p>}
      <div className="board" aria-busy={deals.isPending}>
        {stages.map((stage) => {
          const inStage = rows.filter((d) => d.stage_id === stage.id);
          const total = inStage.reduce((sum, d) => sum + amountOf(d), 0);
          const weighted = inStage.reduce((sum, d) => sum + amountOf(d) * ((d.probability ?? stage.probability ?? 0) / 100), 0);
          return (
            <section key={stage.id} className="column" aria-label={`${stage.name}: ${inStage.length} deals`}
              data-stage={stage.name} onDragOver={(e) => e.preventDefault()} onDrop={(e) => drop(e, stage)}>
              <header>
                <h2>{stage.name}</h2>
                <p className="muted">
                  <span data-testid="count">{inStage.length}</span> · {money(total, currency)} · weighted {money(weighted, currency)}
                </p>
              </header>
              <ul>
                {inStage.map((deal) => (
                  <li key={deal.id} className="deal" draggable data-deal={deal.name}
                    onDragStart={(e) => e.dataTransfer.setData("text/deal-id", deal.id ?? "")}>
                    <strong>{deal.name}</strong>
                    <span className="muted">{deal.amount ? money(amountOf(deal), deal.amount.currency ?? currency) : "no amount"}</span>
                    {/* The keyboard's way to move a card (dragging needs a pointer). */}
                    <label className="sr-only" htmlFor={`move-${deal.id}`}>Move {deal.name} to stage</label>
                    <select id={`move-${deal.id}`} value={deal.stage_id ?? ""}
                      onChange={(e) => {
                        const target = stages.find((s) => s.id === e.target.value);
                        if (target) move.mutate({ deal, stage: target });
                      }}>
                      {stages.map((s) => (
                        <option key={s.id} value={s.id}>{s.name}</option>
                      ))}
                    </select>
                  </li>
                ))}
              </ul>
            </section>
          );
        })}
      </div>
    </>
  );
}
