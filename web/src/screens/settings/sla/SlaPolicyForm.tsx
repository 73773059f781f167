import { useMutation, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useId, useState } from "react";
import { api, etag, type Schemas } from "../../../api/client";
import { Field } from "../../../components/Field";
import { errorsOf, raise } from "../problem";
import { useCalendars } from "./calendars";
import { jobOf } from "./recomputes";

type Policy = Schemas["SlaPolicy"];

interface Props {
  policy?: Policy | undefined;
  nextPosition: number;
  onSaved: (job: string | null) => void;
  onCancel?: () => void;
}

function minutes(value: string): number | null {
  return value.trim() === "" ? null : Number(value);
}

function text(value: number | null | undefined): string {
  return value === null || value === undefined ? "" : String(value);
}

/** Creates or edits an SLA policy: order, condition (the filter language), targets, warning, calendar. */
export function SlaPolicyForm({ policy, nextPosition, onSaved, onCancel }: Props) {
  const client = useQueryClient();
  const calendars = useCalendars();
  const ids = useId();
  const [name, setName] = useState(policy?.name ?? "");
  const [position, setPosition] = useState(text(policy?.position ?? nextPosition));
  const [condition, setCondition] = useState(policy?.condition ?? "");
  const [first, setFirst] = useState(text(policy?.first_response_minutes));
  const [next, setNext] = useState(text(policy?.next_response_minutes));
  const [resolution, setResolution] = useState(text(policy?.resolution_minutes));
  const [warning, setWarning] = useState(text(policy?.warning_threshold ?? 80));
  const [calendar, setCalendar] = useState(policy?.business_hours_id ?? "");
  const save = useMutation({
    mutationFn: async () => {
      const body = { name, position: Number(position || 0), condition: condition.trim() || null,
        first_response_minutes: minutes(first), next_response_minutes: minutes(next), resolution_minutes: minutes(resolution),
        warning_threshold: Number(warning || 80), business_hours_id: calendar || null };
      const answer = policy?.id
        ? await api.PATCH("/v1/sla-policies/{record_id}", { params: { path: { record_id: policy.id },
            header: { "If-Match": etag(policy.version) } }, body })
        : await api.POST("/v1/sla-policies", { body });
      if (answer.error) raise(answer.error);
      return jobOf(answer.response);
    },
    onSuccess: (job) => {
      void client.invalidateQueries({ queryKey: ["sla-policies"] });
      void client.invalidateQueries({ queryKey: ["sla-recomputes"] });
      onSaved(job);
    },
  });
  const errors = errorsOf(save.error);
  const conditionId = `${ids}-condition`;
  const calendarId = `${ids}-calendar`;

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    save.mutate();
  }

  return (
    <form className="card wide" onSubmit={submit} noValidate aria-label={policy ? `Edit policy ${policy.name}` : "New SLA policy"}>
      <h4>{policy ? `Edit ${policy.name}` : "New SLA policy"}</h4>
      <Field label="Policy name" value={name} onChange={(e) => setName(e.target.value)} required errors={errors["name"]} />
      <Field label="Order (the first matching policy applies, lowest first)" type="number" value={position}
        onChange={(e) => setPosition(e.target.value)} errors={errors["position"]} />
      <div className="field">
        <label htmlFor={conditionId}>Condition (filter language; empty: every ticket)</label>
        <textarea id={conditionId} rows={2} value={condition} onChange={(e) => setCondition(e.target.value)}
          placeholder="priority = 'urgent' and tags in ('vip')" aria-invalid={Boolean(errors["condition"])}
          aria-describedby={errors["condition"] ? `${conditionId}-error` : undefined} />
        {errors["condition"] && <p id={`${conditionId}-error`} className="error">{errors["condition"].join(" ")}</p>}
      </div>
      <fieldset>
        <legend>Targets in business minutes (at least one)</legend>
        <div className="targets">
          <Field label="First response" type="number" min={1} value={first} onChange={(e) => setFirst(e.target.value)}
            errors={errors["first_response_minutes"]} />
          <Field label="Next response" type="number" min={1} value={next} onChange={(e) => setNext(e.target.value)}
            errors={errors["next_response_minutes"]} />
          <Field label="Resolution" type="number" min={1} value={resolution} onChange={(e) => setResolution(e.target.value)}
            errors={errors["resolution_minutes"]} />
        </div>
      </fieldset>
      <Field label="Warning at (% of a target elapsed)" type="number" value={warning} onChange={(e) => setWarning(e.target.value)}
        errors={errors["warning_threshold"]} />
      <div className="field">
        <label htmlFor={calendarId}>Business hours</label>
        <select id={calendarId} value={calendar} onChange={(e) => setCalendar(e.target.value)}
          aria-invalid={Boolean(errors["business_hours_id"])}>
          <option value="">The default calendar (else around the clock)</option>
          {(calendars.data ?? []).map((c) => <option key={c.id} value={c.id}>{c.name}</option>)}
        </select>
        {errors["business_hours_id"] && <p className="error">{errors["business_hours_id"].join(" ")}</p>}
      </div>
      {save.error && <p role="alert" className="error">{save.error.message}</p>}
      <div className="inline">
        <button type="submit" disabled={save.isPending}>{policy ? "Save policy" : "Create policy"}</button>
        {onCancel && <button type="button" className="secondary" onClick={onCancel}>Cancel</button>}
      </div>
    </form>
  );
}
