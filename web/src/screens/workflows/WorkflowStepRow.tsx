import type { ComponentType } from "react";
import { Field } from "../../components/Field";
import { SelectField } from "../settings/Controls";
import type { FieldErrors } from "../settings/problem";
import { ACTION_STEPS, FLOW_STEPS, type Json, patched, type StepDraft, stepLabel, withStepType } from "./definition";
import {
  AssignOwnerStep, CallWebhookStep, CreateDealStep, CreateTaskStep, NotifyStep, SendEmailStep, TagsStep,
  UpdateRecordStep, WorkflowChoiceStep,
} from "./WorkflowActionSteps";
import { JumpField } from "./WorkflowControls";
import { ConditionStep, DelayStep, WaitStep } from "./WorkflowFlowSteps";
import type { StepFormProps } from "./stepForm";

const FORMS: Record<string, ComponentType<StepFormProps>> = {
  condition: ConditionStep, delay: DelayStep, wait_for_event: WaitStep,
  create_task: CreateTaskStep, update_record: UpdateRecordStep, assign_owner: AssignOwnerStep, add_tags: TagsStep,
  remove_tags: TagsStep, create_deal: CreateDealStep, notify: NotifyStep, send_email: SendEmailStep,
  call_webhook: CallWebhookStep, enrol: WorkflowChoiceStep, stop_workflow: WorkflowChoiceStep,
};

interface Props {
  draft: StepDraft;
  index: number;
  count: number;
  later: readonly string[];
  errors: FieldErrors;
  workflowId: string | undefined;
  onChange: (draft: StepDraft) => void;
  onMove: (delta: number) => void;
  onRemove: () => void;
}

/** One step: its id and type, the form of its type, where it goes next, and up/down/remove buttons
 * (the keyboard's way to reorder). */
export function WorkflowStepRow({ draft, index, count, later, errors, workflowId, onChange, onMove, onRemove }: Props) {
  const { step } = draft;
  const Form = FORMS[step.type];
  const title = `step ${index + 1} (${step.id || "no id"})`;
  const set = (patch: Json) => onChange({ ...draft, step: patched(step, patch) });
  return (
    <fieldset className="card wide workflow-step" data-step={step.id}>
      <legend>Step {index + 1}: {stepLabel(step.type)}</legend>
      {errors[""] && <p className="error">{errors[""].join(" ")}</p>}
      <div className="inline step-head">
        <Field label="Step id" value={step.id} errors={errors["id"]} onChange={(e) => set({ id: e.target.value.trim() })} />
        <SelectField label="Step type" value={step.type} errors={errors["type"]}
          onChange={(e) => onChange({ ...draft, step: withStepType(step, e.target.value) })}>
          <optgroup label="Flow">
            {FLOW_STEPS.map((s) => <option key={s.type} value={s.type}>{s.label}</option>)}
          </optgroup>
          <optgroup label="Actions">
            {ACTION_STEPS.map((s) => <option key={s.type} value={s.type}>{s.label}</option>)}
          </optgroup>
          {!Form && <option value={step.type}>{step.type || "(no type)"}</option>}
        </SelectField>
      </div>
      {/* The form remounts with another type or id: its boxes start from that step's values. */}
      {Form
        ? <Form key={`${step.type}`} step={step} errors={errors} later={later} workflowId={workflowId} set={set} />
        : <p className="muted">There is no form for this step type: edit it in the raw JSON.</p>}
      {step.type !== "condition" && (
        <JumpField label="Then go to" value={step["next"]} later={later} fallback={later.length ? "The next step" : "The end (no step follows)"}
          errors={errors["next"]}
          onChange={(next) => set({ next })} />
      )}
      <div className="inline step-actions">
        <button type="button" id={`up-${draft.key}`} className="secondary" aria-label={`Move ${title} up`} disabled={index === 0}
          onClick={() => onMove(-1)}>↑ Up</button>
        <button type="button" id={`down-${draft.key}`} className="secondary" aria-label={`Move ${title} down`} disabled={index === count - 1}
          onClick={() => onMove(1)}>↓ Down</button>
        <button type="button" className="secondary" aria-label={`Remove ${title}`} onClick={onRemove}>Remove</button>
      </div>
    </fieldset>
  );
}
