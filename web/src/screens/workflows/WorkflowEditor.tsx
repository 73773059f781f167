import { useMutation } from "@tanstack/react-query";
import { type FormEvent, useEffect, useState } from "react";
import { Field } from "../../components/Field";
import { SelectField, TextAreaField } from "../settings/Controls";
import { ApiError } from "../settings/problem";
import { move } from "../settings/stages";
import {
  ACTION_STEPS, bodyOf, draftOf, draftOfJson, FLOW_STEPS, newStep, recordTypeOf, withDefinition, type Workflow, type WorkflowBody,
  type WorkflowDraft,
} from "./definition";
import { editorErrors, problemList, saveFailure, within } from "./workflowErrors";
import { createWorkflow, updateWorkflow, type WorkflowCreated } from "./workflowsApi";
import { WorkflowStepRow } from "./WorkflowStepRow";
import { WorkflowTestPanel } from "./WorkflowTestPanel";
import { WorkflowTrigger } from "./WorkflowTrigger";
import { WorkflowVersions } from "./WorkflowVersions";

interface Props {
  /** The saved workflow, or null for a new one. */
  workflow: Workflow | null;
  /** Only owners and admins may save (the API says 403 to others): the others are told so. */
  canSave: boolean;
  onSaved: (saved: WorkflowCreated, created: boolean) => void;
  /** The workflow as it is now (after a 412). */
  reload: () => Promise<Workflow | undefined>;
}

/** A workflow's form: name, enabled, the trigger, the steps (add, remove, reorder), or the whole
 * definition as raw JSON; saved in one POST or PATCH (If-Match), tested as it stands. */
export function WorkflowEditor({ workflow, canSave, onSaved, reload }: Props) {
  const [draft, setDraft] = useState<WorkflowDraft>(() => draftOf(workflow));
  // The version the draft started from: sent as If-Match, so a save never overwrites another's.
  const [base, setBase] = useState<Workflow | null>(workflow);
  const [raw, setRaw] = useState<string | null>(null);
  const [rawError, setRawError] = useState<string | null>(null);
  const [failure, setFailure] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [newType, setNewType] = useState("create_task");
  const [focus, setFocus] = useState<string | null>(null);
  useEffect(() => {
    if (!focus) return;
    document.getElementById(focus)?.focus();
    setFocus(null); // once: typing afterwards must not pull the focus back
  }, [focus]);

  const save = useMutation({
    mutationFn: (body: WorkflowBody) => (base?.id ? updateWorkflow(base.id, base.version, body) : createWorkflow(body)),
    onMutate: () => {
      setFailure(null);
      setNotice(null);
    },
    onSuccess: (saved) => {
      setDraft(draftOf(saved));
      setBase(saved);
      setNotice(`Saved ${saved.name ?? ""}: definition version ${saved.version_number ?? 1}.`);
      onSaved(saved, !base?.id);
    },
    onError: setFailure,
  });

  /** The body as it stands (the raw JSON when that is open), or null when the JSON does not read. */
  function current(): WorkflowBody | null {
    if (raw === null) return bodyOf(draft);
    try {
      const parsed = draftOfJson(raw);
      setRawError(null);
      return bodyOf(parsed);
    } catch (e) {
      setRawError(e instanceof Error ? e.message : String(e));
      return null;
    }
  }

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const body = current();
    if (body) save.mutate(body);
  }

  function toggleRaw() {
    if (raw === null) {
      setRaw(JSON.stringify(bodyOf(draft), null, 2));
      return;
    }
    try {
      setDraft(draftOfJson(raw));
      setRaw(null);
      setRawError(null);
    } catch (e) {
      setRawError(e instanceof Error ? e.message : String(e));
    }
  }

  async function loadLatest() {
    const latest = await reload();
    if (!latest) return;
    setDraft(draftOf(latest));
    setBase(latest);
    setRaw(null);
    setFailure(null);
    setNotice(`Loaded the latest version of ${latest.name ?? "the workflow"}.`);
  }

  function moveStep(index: number, delta: number) {
    const item = draft.steps[index];
    if (!item) return;
    const steps = move(draft.steps, index, delta);
    setDraft({ ...draft, steps });
    const at = steps.indexOf(item);
    // Keep the keyboard on the moved step's button (the one pressed, or the other at an end).
    const edge = delta < 0 ? at === 0 : at === steps.length - 1;
    setFocus(`${(delta < 0) !== edge ? "up" : "down"}-${item.key}`);
    setNotice(`Step ${item.step.id} is now step ${at + 1} of ${steps.length}. Save to keep the order.`);
  }

  function addStep() {
    const made = newStep(newType, draft.steps.map((s) => s.step.id));
    setDraft({ ...draft, steps: [...draft.steps, made] });
    setFocus(`step-${made.key}`);
  }

  const errors = editorErrors(failure);
  const problems = problemList(errors, draft.steps);
  const stale = failure instanceof ApiError && failure.status === 412;
  const ids = draft.steps.map((s) => s.step.id);
  return (
    <>
      <form className="workflow-editor" onSubmit={submit} aria-label="Workflow" noValidate>
        {!canSave && (
          <p className="banner-note">Only owners and admins can save workflows. You can look at this one, test it and follow its runs.</p>
        )}
        {failure !== null && (
          <div role="alert" className="card wide error-summary">
            <p className="error">{saveFailure(failure)}</p>
            {problems.length > 0 && <ul>{problems.map((p) => <li key={p}>{p}</li>)}</ul>}
            {stale && <button type="button" className="secondary" onClick={() => void loadLatest()}>Load their version (drops your changes)</button>}
          </div>
        )}
        <p role="status" aria-live="polite">{notice}</p>
        <div className="inline">
          <button type="button" className="secondary" aria-pressed={raw !== null} onClick={toggleRaw}>Edit as raw JSON</button>
        </div>
        {base?.id && raw === null && (
          <WorkflowVersions workflowId={base.id} current={base.version_number} onLoad={(n, definition) => {
            setDraft((d) => withDefinition(d, definition));
            setNotice(`Version ${n}'s trigger and steps are in the form: save to make them the current version.`);
          }} />
        )}
        {raw !== null ? (
          <TextAreaField label="The workflow as JSON (name, enabled, trigger, steps)" rows={24} value={raw} spellCheck={false}
            className="code" errors={rawError ? [rawError] : undefined} onChange={(e) => setRaw(e.target.value)} />
        ) : (
          <>
            <div className="card wide">
              <Field label="Name" value={draft.name} required maxLength={200} errors={errors["name"]}
                onChange={(e) => setDraft({ ...draft, name: e.target.value })} />
              <TextAreaField label="Description (optional)" rows={2} value={draft.description ?? ""} errors={errors["description"]}
                onChange={(e) => setDraft({ ...draft, description: e.target.value || null })} />
              <label className="check">
                <input type="checkbox" checked={draft.enabled} onChange={(e) => setDraft({ ...draft, enabled: e.target.checked })} />
                Enabled (starts new runs)
              </label>
              {errors["enabled"] && <p className="error">{errors["enabled"].join(" ")}</p>}
            </div>
            <WorkflowTrigger trigger={draft.trigger} errors={within(errors, "trigger")} onChange={(trigger) => setDraft({ ...draft, trigger })} />
            <section aria-labelledby="steps-title" className="workflow-steps">
              <h2 id="steps-title" tabIndex={-1}>Steps</h2>
              {errors["steps"] && <p className="error">{errors["steps"].join(" ")}</p>}
              {draft.steps.length === 0 && <p className="muted">No steps yet: a workflow needs at least one.</p>}
              {draft.steps.map((item, index) => (
                <div key={item.key} id={`step-${item.key}`} tabIndex={-1} className="step-anchor">
                  <WorkflowStepRow draft={item} index={index} count={draft.steps.length} later={ids.slice(index + 1)}
                    errors={within(errors, `steps.${item.step.id}`)} workflowId={base?.id}
                    onChange={(changed) => setDraft((d) => ({ ...d, steps: d.steps.map((s) => (s.key === item.key ? changed : s)) }))}
                    onMove={(delta) => moveStep(index, delta)}
                    onRemove={() => {
                      // The keyboard goes to the step that takes its place (or the one before, or the heading).
                      const neighbour = draft.steps[index + 1] ?? draft.steps[index - 1];
                      setDraft((d) => ({ ...d, steps: d.steps.filter((s) => s.key !== item.key) }));
                      setFocus(neighbour ? `step-${neighbour.key}` : "steps-title");
                      setNotice(`Step ${item.step.id} removed. Save to keep the change.`);
                    }} />
                </div>
              ))}
              <div className="inline add-step">
                <SelectField label="New step type" value={newType} onChange={(e) => setNewType(e.target.value)}>
                  <optgroup label="Flow">{FLOW_STEPS.map((s) => <option key={s.type} value={s.type}>{s.label}</option>)}</optgroup>
                  <optgroup label="Actions">{ACTION_STEPS.map((s) => <option key={s.type} value={s.type}>{s.label}</option>)}</optgroup>
                </SelectField>
                <button type="button" className="secondary" onClick={addStep}>Add the step</button>
              </div>
            </section>
          </>
        )}
        <div className="inline">
          <button type="submit" disabled={save.isPending}>{save.isPending ? "Saving…" : "Save workflow"}</button>
        </div>
      </form>
      <WorkflowTestPanel workflowId={base?.id} recordType={recordTypeOf(raw === null ? draft.trigger : {})} current={current}
        onProblem={setFailure} />
    </>
  );
}
