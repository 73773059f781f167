import { Field } from "../../components/Field";
import { SelectField, TextAreaField } from "../settings/Controls";
import type { FieldErrors } from "../settings/problem";
import { COMMON_EVENTS, type Json, patched, SOURCES, TRIGGER_TYPES, type TriggerType, withTriggerType } from "./definition";
import { EventTypeField, KeyValueRows, ListField, RecordTypeField } from "./WorkflowControls";
import { fieldErrors, within } from "./workflowErrors";

const TYPE_LABELS: Record<TriggerType, string> = {
  event: "When something happens (an event)",
  schedule: "On a schedule",
  webhook: "When its webhook URL is called",
  manual: "By hand, on chosen records",
};

interface Props {
  trigger: Json;
  /** The trigger's errors by field (`trigger.condition` is `condition`). */
  errors: FieldErrors;
  onChange: (trigger: Json) => void;
}

function text(value: unknown): string {
  return typeof value === "string" ? value : "";
}

/** When a workflow starts: the trigger's fields by its type, and the sources of changes it ignores. */
export function WorkflowTrigger({ trigger, errors, onChange }: Props) {
  const type = (TRIGGER_TYPES as readonly unknown[]).includes(trigger["type"]) ? (trigger["type"] as TriggerType) : "event";
  const set = (patch: Json) => onChange(patched(trigger, patch));
  const excluded = Array.isArray(trigger["exclude_sources"]) ? trigger["exclude_sources"].map(String) : [];
  return (
    <fieldset className="card wide workflow-trigger">
      <legend>Trigger</legend>
      <SelectField label="Starts" value={type} errors={errors["type"]} onChange={(e) => onChange(withTriggerType(trigger, e.target.value as TriggerType))}>
        {TRIGGER_TYPES.map((t) => <option key={t} value={t}>{TYPE_LABELS[t]}</option>)}
      </SelectField>
      {type === "event" && (
        <>
          <EventTypeField label="Event type" value={text(trigger["event"])} events={COMMON_EVENTS} errors={errors["event"]}
            onChange={(event) => set({ event })} />
          <TextAreaField label="Condition (filter on the record after the change; blank: every record)" rows={2}
            hint="e.g. lifecycle_stage = 'lead' and country = 'DE'" value={text(trigger["condition"])} errors={errors["condition"]}
            onChange={(e) => set({ condition: e.target.value || undefined })} />
          <ListField label="Only when one of these fields changed (comma-separated)" placeholder="lifecycle_stage, owner_id" optional
            value={trigger["changed"]} errors={fieldErrors(errors, "changed")} onChange={(changed) => set({ changed })} />
          <KeyValueRows legend="Only when a field changed to a value" noun="Changed field" hint="The field changed in this update to the value (text, or JSON such as 10 or true)."
            value={typeof trigger["changed_to"] === "object" && trigger["changed_to"] ? (trigger["changed_to"] as Json) : {}}
            errors={within(errors, "changed_to")}
            onChange={(changedTo) => set({ changed_to: Object.keys(changedTo).length ? changedTo : undefined })} />
        </>
      )}
      {type === "schedule" && (
        <>
          <Field label="Cron (minute hour day-of-month month day-of-week)" value={text(trigger["cron"])} placeholder="0 9 * * 1"
            errors={errors["cron"]} onChange={(e) => set({ cron: e.target.value })} />
          <Field label="Time zone (IANA)" value={text(trigger["timezone"])} placeholder="Europe/Berlin" errors={errors["timezone"]}
            onChange={(e) => set({ timezone: e.target.value || undefined })} />
          <RecordTypeField value={trigger["record_type"]} errors={errors["record_type"]} onChange={(r) => set({ record_type: r })} />
          <TextAreaField label="Filter (which records; blank: all)" rows={2} value={text(trigger["filter"])} errors={errors["filter"]}
            onChange={(e) => set({ filter: e.target.value || undefined })} />
        </>
      )}
      {type === "webhook" && (
        <>
          <RecordTypeField value={trigger["record_type"]} none="None (the body is the run's trigger only)" errors={errors["record_type"]}
            onChange={(r) => set({ record_type: r })} />
          <p className="muted">The webhook URL and its signing secret are shown once, when the workflow is created.</p>
        </>
      )}
      {type === "manual" && (
        <RecordTypeField value={trigger["record_type"]} errors={errors["record_type"]} onChange={(r) => set({ record_type: r })} />
      )}
      <fieldset className="choices">
        <legend>Not for changes made by</legend>
        {SOURCES.map((s) => (
          <label key={s.value} className="check">
            <input type="checkbox" checked={excluded.includes(s.value)} onChange={(e) => {
              const next = e.target.checked ? [...excluded, s.value] : excluded.filter((x) => x !== s.value);
              set({ exclude_sources: next.length ? next : undefined });
            }} /> {s.label}
          </label>
        ))}
        {fieldErrors(errors, "exclude_sources") && <p className="error">{fieldErrors(errors, "exclude_sources")?.join(" ")}</p>}
      </fieldset>
    </fieldset>
  );
}
