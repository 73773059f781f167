import { useMutation, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import type { Pipeline } from "../../api/client";
import { Field } from "../../components/Field";
import { PipelineDetails } from "./PipelineDetails";
import { errorsOf, summary } from "./problem";
import { createPipeline, usePipelines } from "./pipelinesApi";

// What a new pipeline starts with (the API needs at least one stage); the admin edits it at once.
const FIRST_STAGES = [
  { name: "New", probability: 10, kind: "open" as const },
  { name: "Won", probability: 100, kind: "won" as const },
  { name: "Lost", probability: 0, kind: "lost" as const },
];

export default function Pipelines() {
  const client = useQueryClient();
  const pipelines = usePipelines();
  const [params, setParams] = useSearchParams();
  const [notice, setNotice] = useState<string | null>(null);
  const list = pipelines.data ?? [];
  const chosen = list.find((p) => p.id === params.get("pipeline")) ?? list.find((p) => p.is_default) ?? list[0];
  const create = useMutation({
    mutationFn: createPipeline,
    onSuccess: (made) => {
      setNotice(`Pipeline ${made.name} created.`);
      client.setQueryData<Pipeline[]>(["pipelines"], (old) => [...(old ?? []), made]);
      setParams({ pipeline: made.id ?? "" });
    },
  });
  const errors = errorsOf(create.error);

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    create.mutate({ name: String(data.get("name") ?? "").trim(), is_default: data.get("is_default") === "on", stages: FIRST_STAGES },
      { onSuccess: () => form.reset() });
  }

  return (
    <section aria-labelledby="pipelines-title">
      <h2 id="pipelines-title">Pipelines and stages</h2>
      <p role="status">{notice}</p>
      {pipelines.error && <p role="alert" className="error">{pipelines.error.message}</p>}
      {pipelines.isPending && <p role="status">Loading…</p>}
      <nav aria-label="Pipelines">
        <ul className="inbox settings-list">
          {list.map((p) => (
            <li key={p.id} data-pipeline={p.name}>
              <Link className="grow" to={{ search: `?pipeline=${p.id ?? ""}` }} aria-current={p.id === chosen?.id ? "page" : undefined}>
                {p.name}
              </Link>
              <span className="muted">{(p.stages ?? []).length} stages</span>
              {p.is_default && <span className="badge">default</span>}
            </li>
          ))}
        </ul>
      </nav>
      {chosen && (
        <PipelineDetails key={chosen.id} pipeline={chosen} onNotice={setNotice}
          onDeleted={() => { setNotice(`Pipeline ${chosen.name} deleted.`); setParams({}); }} />
      )}
      <form className="card" onSubmit={submit} aria-labelledby="new-pipeline-title">
        <h3 id="new-pipeline-title">New pipeline</h3>
        <p className="muted">It starts with the stages New, Won and Lost; change them once it is made.</p>
        <Field label="Pipeline name" name="name" required errors={errors["name"]} />
        <label className="check"><input type="checkbox" name="is_default" /> The default pipeline (new deals go here)</label>
        {create.error && <p role="alert" className="error">{summary(create.error, ["name"])}</p>}
        <button type="submit" disabled={create.isPending}>Create pipeline</button>
      </form>
    </section>
  );
}
