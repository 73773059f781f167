// The forms of the steps that steer a run: condition, delay, wait_for_event.
import { useState } from "react";
import { Field } from "../../components/Field";
import { SelectField, TextAreaField } from "../settings/Controls";
import { COMMON_EVENTS, parseNumber } from "./definition";
import { EventTypeField, JumpField } from "./WorkflowControls";
import { fieldErrors } from "./workflowErrors";
import { localInput, numberText, type StepFormProps, text, toUnit, unitOf } from "./stepForm";

export function ConditionStep({ step, errors, later, set }: StepFormProps) {
  return (
    <>
      <TextAreaField label="Condition (filter on the run's record, read when the step runs)" rows={2} value={text(step["condition"])}
        hint="e.g. lifecycle_stage = 'customer'" errors={errors["condition"]} onChange={(e) => set({ condition: e.target.value })} />
      <JumpField label="If it matches, go to" value={step["then"]} later={later} fallback="The next step" errors={errors["then"]}
        onChange={(then) => set({ then })} />
      <JumpField label="Otherwise, go to" value={step["else"]} later={later} fallback="The end (default)" errors={errors["else"]}
        onChange={(otherwise) => set({ else: otherwise })} />
    </>
  );
}

const DELAYS = [
  { value: "minutes", label: "Minutes" },
  { value: "hours", label: "Hours" },
  { value: "days", label: "Days" },
  { value: "until", label: "Until a date and time" },
  { value: "until_field", label: "Until a date field of the record" },
] as const;
const DELAY_KEYS = DELAYS.map((d) => d.value);
type DelayKind = (typeof DELAY_KEYS)[number];

export function DelayStep({ step, errors, set }: StepFormProps) {
  // The kind is kept while its box is blank (a blank box removes the key).
  const [kind, setKind] = useState<DelayKind>(() => unitOf(step, DELAY_KEYS));
  const wrong = fieldErrors(errors, ...DELAY_KEYS);
  const numeric = kind === "minutes" || kind === "hours" || kind === "days";
  const hours = step["business_hours"];
  function choose(next: DelayKind) {
    setKind(next);
    const nextNumeric = next === "minutes" || next === "hours" || next === "days";
    const patch = toUnit(step, DELAY_KEYS, next);
    if (!(numeric && nextNumeric)) patch[next] = nextNumeric ? 1 : undefined; // a number moves between units only
    set({ ...patch, ...(next === "until_field" ? {} : { offset_minutes: undefined }) });
  }
  return (
    <>
      <SelectField label="Wait" value={kind} onChange={(e) => choose(e.target.value as DelayKind)}>
        {DELAYS.map((d) => <option key={d.value} value={d.value}>{d.label}</option>)}
      </SelectField>
      {numeric && (
        <Field label={`Number of ${kind}`} type="number" min={0} inputMode="numeric" value={numberText(step[kind])} errors={wrong}
          onChange={(e) => set({ [kind]: parseNumber(e.target.value) })} />
      )}
      {kind === "until" && (
        <Field label="Until (your time zone)" type="datetime-local" value={localInput(step["until"])} errors={wrong}
          onChange={(e) => set({ until: e.target.value ? new Date(e.target.value).toISOString() : undefined })} />
      )}
      {kind === "until_field" && (
        <>
          <Field label="Date field of the record" placeholder="renewal_date" value={text(step["until_field"])} errors={wrong}
            onChange={(e) => set({ until_field: e.target.value || undefined })} />
          <Field label="Offset (minutes; negative: before it)" type="number" inputMode="numeric" value={numberText(step["offset_minutes"])}
            errors={errors["offset_minutes"]} onChange={(e) => set({ offset_minutes: parseNumber(e.target.value) })} />
        </>
      )}
      <label className="check">
        <input type="checkbox" checked={hours !== undefined && hours !== false}
          onChange={(e) => set({ business_hours: e.target.checked ? true : undefined })} /> Count business hours only
      </label>
      {hours !== undefined && hours !== false && (
        <Field label="Business-hours calendar id (blank: the default calendar)" value={typeof hours === "string" ? hours : ""}
          errors={errors["business_hours"]} onChange={(e) => set({ business_hours: e.target.value.trim() || true })} />
      )}
    </>
  );
}

export const WAIT_EVENTS = [...COMMON_EVENTS, "crm.deal.stage_changed", "crm.ticket.status_changed", "crm.mail.received", "crm.activity.created"];
const TIMEOUTS = ["timeout_minutes", "timeout_hours", "timeout_days"] as const;
type Timeout = (typeof TIMEOUTS)[number];

export function WaitStep({ step, errors, later, set }: StepFormProps) {
  const [unit, setUnit] = useState<Timeout>(() => unitOf(step, TIMEOUTS));
  return (
    <>
      <EventTypeField label="Event to wait for" value={text(step["event"])} events={WAIT_EVENTS} errors={errors["event"]}
        onChange={(event) => set({ event })} />
      <TextAreaField label="Condition on the record after that event (optional)" rows={2} value={text(step["condition"])}
        errors={errors["condition"]} onChange={(e) => set({ condition: e.target.value || undefined })} />
      <div className="inline">
        <SelectField label="Time out after" value={unit} onChange={(e) => {
          setUnit(e.target.value as Timeout);
          set(toUnit(step, TIMEOUTS, e.target.value, 1));
        }}>
          <option value="timeout_minutes">minutes</option>
          <option value="timeout_hours">hours</option>
          <option value="timeout_days">days</option>
        </SelectField>
        <Field label={`Number of ${unit.slice(8)}`} type="number" min={1} inputMode="numeric" value={numberText(step[unit])}
          errors={fieldErrors(errors, ...TIMEOUTS)} onChange={(e) => set({ [unit]: parseNumber(e.target.value) })} />
      </div>
      <JumpField label="When it times out, go to" value={step["on_timeout"]} later={later} fallback="The next step"
        errors={errors["on_timeout"]} onChange={(onTimeout) => set({ on_timeout: onTimeout })} />
    </>
  );
}
