import { useMutation, useQueryClient } from "@tanstack/react-query";
import { type FormEvent } from "react";
import type { Pipeline } from "../../api/client";
import { Field } from "../../components/Field";
import { ConfirmButton } from "../../components/ConfirmButton";
import { errorsOf, summary } from "./problem";
import { deletePipeline, type PipelineIn, updatePipeline } from "./pipelinesApi";
import { StageEditor } from "./StageEditor";

/** One pipeline: its name, whether it is the default, deleting it, and its stages. */
export function PipelineDetails({ pipeline, onNotice, onDeleted }: {
  pipeline: Pipeline;
  onNotice: (text: string) => void;
  onDeleted: () => void;
}) {
  const client = useQueryClient();
  const saved = (p: Pipeline) => client.setQueryData<Pipeline[]>(["pipelines"], (old) => (old ?? []).map((o) => (o.id === p.id ? p : o)));
  const update = useMutation({
    mutationFn: (body: PipelineIn) => updatePipeline(pipeline, body),
    onSuccess: (p) => {
      saved(p);
      // Another pipeline may have stopped being the default.
      void client.invalidateQueries({ queryKey: ["pipelines"] });
      onNotice(`Pipeline ${p.name} saved.`);
    },
  });
  const remove = useMutation({
    mutationFn: () => deletePipeline(pipeline),
    onSuccess: () => {
      client.setQueryData<Pipeline[]>(["pipelines"], (old) => (old ?? []).filter((o) => o.id !== pipeline.id));
      onDeleted();
    },
  });
  const errors = errorsOf(update.error);

  function rename(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    update.mutate({ name: String(new FormData(event.currentTarget).get("name") ?? "").trim() });
  }

  return (
    <section className="pipeline-details" aria-labelledby="pipeline-title">
      <h3 id="pipeline-title">{pipeline.name}{pipeline.is_default ? " (default)" : ""}</h3>
      <form className="filters" onSubmit={rename} aria-label={`Rename ${pipeline.name}`}>
        <Field label="Name of this pipeline" name="name" defaultValue={pipeline.name} required errors={errors["name"]} />
        <button type="submit" disabled={update.isPending}>Rename</button>
      </form>
      <div className="inline">
        {!pipeline.is_default && (
          <button type="button" className="secondary" onClick={() => update.mutate({ is_default: true })}>Make it the default</button>
        )}
        <ConfirmButton label="Delete" what={`pipeline ${pipeline.name}`} busy={remove.isPending}
          question={`Delete the pipeline ${pipeline.name}?`} onConfirm={() => remove.mutate()} />
      </div>
      {update.error && <p role="alert" className="error">{summary(update.error, ["name"])}</p>}
      {remove.error && <p role="alert" className="error">{remove.error.message}</p>}
      <StageEditor pipeline={pipeline} onSaved={saved} onNotice={onNotice} />
    </section>
  );
}
