import { useMutation } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import type { Pipeline, Stage } from "../../api/client";
import { ApiError, errorsOf, summary, under } from "./problem";
import { deleteStage, updatePipeline } from "./pipelinesApi";
import { moveTargets, StageRow } from "./StageRow";
import { change, changed, fromStages, move, newStage, type StageDraft, toStagesIn } from "./stages";

interface Removal {
  stage: Stage;
  message: string;
}

/** The pipeline's ordered stages as a draft, saved in one PATCH; a saved stage is removed at once. */
export function StageEditor({ pipeline, onSaved, onNotice }: {
  pipeline: Pipeline;
  onSaved: (p: Pipeline) => void;
  onNotice: (text: string) => void;
}) {
  const saved = pipeline.stages ?? [];
  const [draft, setDraft] = useState<StageDraft[]>(() => fromStages(saved));
  const [focus, setFocus] = useState<string | null>(null);
  const [removal, setRemoval] = useState<Removal | null>(null);
  const [target, setTarget] = useState("");
  useEffect(() => {
    if (focus) document.getElementById(focus)?.focus();
  }, [focus, draft]);

  const save = useMutation({
    mutationFn: () => updatePipeline(pipeline, { stages: toStagesIn(draft) }),
    onSuccess: (p) => {
      onSaved(p);
      setDraft(fromStages(p.stages ?? []));
      onNotice(`The stages of ${p.name} are saved.`);
    },
  });
  const remove = useMutation({
    mutationFn: ({ stage, moveTo }: { stage: Stage; moveTo?: string }) => deleteStage(pipeline, stage.id ?? "", moveTo),
    onSuccess: (p, { stage }) => {
      onSaved(p);
      setRemoval(null);
      setDraft((d) => d.filter((s) => s.id !== stage.id));
      onNotice(`Stage ${stage.name} removed.`);
    },
    onError: (e, { stage }) => {
      // A stage that holds deals: the API says so; offer to move them to a stage of the same kind.
      if (e instanceof ApiError && e.status === 409) {
        setRemoval({ stage, message: e.message });
        setTarget(moveTargets(saved, stage)[0]?.id ?? "");
      }
    },
  });
  const errors = errorsOf(save.error);

  function moveStage(index: number, delta: number) {
    const stage = draft[index];
    if (!stage) return;
    const next = move(draft, index, delta);
    setDraft(next);
    const at = next.indexOf(stage);
    // Keep the keyboard on the moved stage's button (the one pressed, or the other at an end).
    const edge = delta < 0 ? at === 0 : at === next.length - 1;
    setFocus(`${(delta < 0) !== edge ? "up" : "down"}-${stage.key}`);
    onNotice(`${stage.name || "The new stage"} is now stage ${at + 1} of ${next.length}. Save the stages to keep the order.`);
  }

  function removeStage(stage: StageDraft) {
    const found = saved.find((s) => s.id === stage.id);
    if (found) remove.mutate({ stage: found });
    else setDraft((d) => d.filter((s) => s.key !== stage.key));
  }

  const dirty = changed(draft, saved);
  return (
    <section aria-labelledby="stages-title" className="stages">
      <h4 id="stages-title">Stages of {pipeline.name}</h4>
      <p className="muted">In order; a deal in a won or lost stage is won or lost. Removing a saved stage takes effect at once.</p>
      {removal && (
        <div role="alert" className="card">
          <p className="error">{removal.message}</p>
          {moveTargets(saved, removal.stage).length > 0 && (
            <div className="filters">
              <div className="field">
                <label htmlFor="move-deals-to">Move the deals of {removal.stage.name} to</label>
                <select id="move-deals-to" value={target} onChange={(e) => setTarget(e.target.value)}>
                  {moveTargets(saved, removal.stage).map((s) => <option key={s.id} value={s.id}>{s.name}</option>)}
                </select>
              </div>
              <button type="button" disabled={remove.isPending || !target}
                onClick={() => remove.mutate({ stage: removal.stage, moveTo: target })}>Move the deals and remove {removal.stage.name}</button>
            </div>
          )}
          <button type="button" className="secondary" onClick={() => setRemoval(null)}>Keep the stage</button>
        </div>
      )}
      {remove.error && !removal && <p role="alert" className="error">{summary(remove.error, [])}</p>}
      <div className="stage-list">
        {draft.map((stage, index) => (
          <StageRow key={stage.key} stage={stage} index={index} count={draft.length} errors={under(errors, `stages.${index}`)}
            removing={remove.isPending} onRemove={() => removeStage(stage)} onMove={(delta) => moveStage(index, delta)}
            onChange={(patch) => setDraft((d) => d.map((s) => (s.key === stage.key ? change(s, patch) : s)))} />
        ))}
      </div>
      {save.error && <p role="alert" className="error">{summary(save.error, ["stages."])}</p>}
      <div className="inline">
        <button type="button" className="secondary" onClick={() => setDraft((d) => [...d, newStage()])}>Add a stage</button>
        <button type="button" disabled={save.isPending || !dirty} onClick={() => save.mutate()}>Save the stages</button>
        {dirty && <button type="button" className="secondary" onClick={() => setDraft(fromStages(saved))}>Discard changes</button>}
      </div>
    </section>
  );
}
