// The forms of the action steps, one per type, with the fields of its schema in
// services/automation/automation/workflows/actions/ (text fields take templates: {{ record.first_name }}).
import { useState } from "react";
import { useDirectory } from "../../api/directory";
import { Field } from "../../components/Field";
import { SelectField, TextAreaField } from "../settings/Controls";
import { usePipelines } from "../settings/pipelinesApi";
import { parseNumber, parseValue, valueText } from "./definition";
import { KeyValueRows, ListField, UsersField } from "./WorkflowControls";
import { fieldErrors, within } from "./workflowErrors";
import { useWorkflows } from "./workflowsApi";
import { numberText, type StepFormProps, text, toUnit, unitOf } from "./stepForm";

interface UserSelectProps {
  label: string;
  value: unknown;
  /** What leaving it blank means. */
  fallback: string;
  errors: string[] | undefined;
  onChange: (value: string | undefined) => void;
}

/** One of the tenant's users, or the fallback (the record's owner). */
function UserSelect({ label, value, fallback, errors, onChange }: UserSelectProps) {
  const people = useDirectory();
  const current = text(value);
  const known = people.data ?? [];
  return (
    <SelectField label={label} value={current === "owner" ? "" : current} errors={errors} onChange={(e) => onChange(e.target.value || undefined)}>
      <option value="">{fallback}</option>
      {known.map((u) => <option key={u.id} value={u.id}>{u.name || u.email}</option>)}
      {current && current !== "owner" && !known.some((u) => u.id === current) && <option value={current}>User {current}</option>}
    </SelectField>
  );
}

const DUES = ["due_in_days", "due_in_hours"] as const;

export function CreateTaskStep({ step, errors, set }: StepFormProps) {
  const [due, setDue] = useState<string>(() => (DUES.some((d) => step[d] !== undefined) ? unitOf(step, DUES) : ""));
  return (
    <>
      <Field label="Task title" value={text(step["title"])} placeholder="Call {{ record.first_name }}" errors={errors["title"]}
        onChange={(e) => set({ title: e.target.value })} />
      <TextAreaField label="Notes" rows={2} value={text(step["notes"])} errors={errors["notes"]}
        onChange={(e) => set({ notes: e.target.value || undefined })} />
      <div className="inline">
        <SelectField label="Due" value={due} onChange={(e) => {
          setDue(e.target.value);
          set(e.target.value ? toUnit(step, DUES, e.target.value, 1) : { due_in_days: undefined, due_in_hours: undefined });
        }}>
          <option value="">No due date</option>
          <option value="due_in_days">In days</option>
          <option value="due_in_hours">In hours</option>
        </SelectField>
        {due && (
          <Field label={due === "due_in_days" ? "Due in (days)" : "Due in (hours)"} type="number" min={0} inputMode="numeric"
            value={numberText(step[due])} errors={fieldErrors(errors, ...DUES)} onChange={(e) => set({ [due]: parseNumber(e.target.value) })} />
        )}
      </div>
      <UserSelect label="Assignee" value={step["assignee"]} fallback="The record's owner" errors={errors["assignee"]}
        onChange={(assignee) => set({ assignee })} />
      <SelectField label="Priority" value={text(step["priority"])} errors={errors["priority"]} onChange={(e) => set({ priority: e.target.value || undefined })}>
        <option value="">Default</option>
        <option value="low">Low</option>
        <option value="normal">Normal</option>
        <option value="high">High</option>
      </SelectField>
    </>
  );
}

export function UpdateRecordStep({ step, errors, set }: StepFormProps) {
  const fields = typeof step["fields"] === "object" && step["fields"] !== null ? (step["fields"] as Record<string, unknown>) : {};
  return (
    <>
      <SelectField label="Record to update" value={text(step["record"]) || "trigger"} errors={errors["record"]}
        onChange={(e) => set({ record: e.target.value === "trigger" ? undefined : e.target.value })}>
        <option value="trigger">The run's record</option>
        <option value="company">Its company</option>
        <option value="contact">Its contact</option>
      </SelectField>
      <KeyValueRows legend="Fields to set" noun="Field" value={fields} errors={within(errors, "fields")}
        hint={"A value is text (templates work: {{ record.first_name }}) or JSON: 10, true, [\"vip\"]. Custom fields by their key."}
        onChange={(next) => set({ fields: next })} />
    </>
  );
}

export function AssignOwnerStep({ step, errors, set }: StepFormProps) {
  return (
    <>
      <UsersField legend="Assign to one of" value={step["users"]} owner={false} errors={fieldErrors(errors, "users")}
        onChange={(users) => set({ users })} />
      <SelectField label="How" value={text(step["method"]) || "round_robin"} errors={errors["method"]} onChange={(e) => set({ method: e.target.value })}>
        <option value="round_robin">Round robin (each in turn)</option>
        <option value="least_loaded">Least loaded (fewest open records)</option>
      </SelectField>
    </>
  );
}

export function TagsStep({ step, errors, set }: StepFormProps) {
  return (
    <ListField label="Tags (comma-separated; templates work)" value={step["tags"]} placeholder="vip, {{ record.country }}"
      errors={fieldErrors(errors, "tags")} onChange={(tags) => set({ tags })} />
  );
}

export function CreateDealStep({ step, errors, set }: StepFormProps) {
  const pipelines = usePipelines();
  const pipelineId = text(step["pipeline_id"]);
  const chosen = (pipelines.data ?? []).find((p) => p.id === pipelineId) ?? (pipelines.data ?? []).find((p) => p.is_default);
  return (
    <>
      <Field label="Deal title" value={text(step["title"])} placeholder="{{ record.name }} renewal" errors={errors["title"]}
        onChange={(e) => set({ title: e.target.value })} />
      <SelectField label="Pipeline" value={pipelineId} errors={errors["pipeline_id"]}
        onChange={(e) => set({ pipeline_id: e.target.value || undefined, stage_id: undefined })}>
        <option value="">The default pipeline</option>
        {(pipelines.data ?? []).map((p) => <option key={p.id} value={p.id}>{p.name}</option>)}
      </SelectField>
      <SelectField label="Stage" value={text(step["stage_id"])} errors={errors["stage_id"]} onChange={(e) => set({ stage_id: e.target.value || undefined })}>
        <option value="">The first stage</option>
        {(chosen?.stages ?? []).filter((s) => !s.archived).map((s) => <option key={s.id} value={s.id}>{s.name}</option>)}
      </SelectField>
      <div className="inline">
        <Field label="Amount" inputMode="decimal" value={step["amount"] === undefined ? "" : String(step["amount"])} placeholder="1200.00"
          errors={errors["amount"]} onChange={(e) => set({ amount: e.target.value.trim() || undefined })} />
        <Field label="Currency" value={text(step["currency"])} placeholder="EUR" maxLength={3} errors={errors["currency"]}
          onChange={(e) => set({ currency: e.target.value.toUpperCase() || undefined })} />
      </div>
      <UserSelect label="Deal owner" value={step["owner"]} fallback="The record's owner" errors={errors["owner"]} onChange={(owner) => set({ owner })} />
    </>
  );
}

export function NotifyStep({ step, errors, set }: StepFormProps) {
  return (
    <>
      <UsersField legend="Notify" value={step["users"]} owner errors={fieldErrors(errors, "users")} onChange={(users) => set({ users })} />
      <TextAreaField label="Message" rows={2} value={text(step["message"])} errors={errors["message"]} placeholder="{{ record.first_name }} became a customer"
        onChange={(e) => set({ message: e.target.value })} />
    </>
  );
}

export function SendEmailStep({ step, errors, set }: StepFormProps) {
  return (
    <>
      <Field label="To (record: the record's contact; or addresses, comma-separated)" value={text(step["to"])} placeholder="record"
        errors={errors["to"]} onChange={(e) => set({ to: e.target.value })} />
      <Field label="Subject" value={text(step["subject"])} errors={errors["subject"]} onChange={(e) => set({ subject: e.target.value })} />
      <TextAreaField label="Body (text)" rows={4} value={text(step["body"])} errors={errors["body"]}
        onChange={(e) => set({ body: e.target.value || undefined })} />
      <TextAreaField label="HTML body (optional; values are escaped)" rows={3} value={text(step["html"])} errors={errors["html"]}
        onChange={(e) => set({ html: e.target.value || undefined })} />
      <Field label="From (a mail sender id; blank: the default sender)" value={text(step["from"])} errors={errors["from"]}
        onChange={(e) => set({ from: e.target.value.trim() || undefined })} />
      <SelectField label="Purpose" value={text(step["purpose"]) || "marketing"} errors={errors["purpose"]}
        onChange={(e) => set({ purpose: e.target.value === "marketing" ? undefined : e.target.value })}>
        <option value="marketing">Marketing (never to unsubscribed or suppressed addresses)</option>
        <option value="transactional">Transactional</option>
        <option value="notification">Notification</option>
      </SelectField>
    </>
  );
}

export function CallWebhookStep({ step, errors, set }: StepFormProps) {
  // The body box keeps what is typed; the step gets JSON where it is JSON, else the text (a template).
  const [body, setBody] = useState(() => (step["body"] === undefined ? "" : typeof step["body"] === "string" ? step["body"] : valueText(step["body"])));
  return (
    <>
      <Field label="URL (templates work)" inputMode="url" value={text(step["url"])} placeholder="https://example.com/hooks/crm"
        errors={errors["url"]} onChange={(e) => set({ url: e.target.value })} />
      <SelectField label="Method" value={text(step["method"]) || "POST"} errors={errors["method"]} onChange={(e) => set({ method: e.target.value })}>
        {["POST", "PUT", "PATCH", "DELETE"].map((m) => <option key={m} value={m}>{m}</option>)}
      </SelectField>
      <TextAreaField label="Body (JSON, or a template of JSON; blank: the run's ids and record)" rows={3} value={body} errors={errors["body"]}
        onChange={(e) => {
          setBody(e.target.value);
          const value = e.target.value.trim() ? parseValue(e.target.value) : undefined;
          set({ body: typeof value === "object" ? value : e.target.value.trim() ? e.target.value : undefined });
        }} />
      <Field label="Signing secret (whsec_…, optional)" value={text(step["secret"])} errors={errors["secret"]}
        onChange={(e) => set({ secret: e.target.value.trim() || undefined })} />
    </>
  );
}

export function WorkflowChoiceStep({ step, errors, workflowId, set }: StepFormProps) {
  const workflows = useWorkflows();
  const others = (workflows.data?.pages ?? []).flatMap((p) => p.data).filter((w) => w.id !== workflowId);
  const current = text(step["workflow_id"]);
  return (
    <SelectField label={step.type === "enrol" ? "Workflow to start on this record" : "Workflow to stop on this record"} value={current}
      errors={errors["workflow_id"]} onChange={(e) => set({ workflow_id: e.target.value })}>
      <option value="">Choose a workflow</option>
      {others.map((w) => <option key={w.id} value={w.id}>{w.name}</option>)}
      {current && !others.some((w) => w.id === current) && <option value={current}>Workflow {current}</option>}
    </SelectField>
  );
}
