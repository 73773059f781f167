import { useMutation, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { api, etag, type Schemas } from "../../../api/client";
import { Field } from "../../../components/Field";
import { errorsFor, errorsOf, raise } from "../problem";
import { fromFrames, type Holiday, officeWeek, toFrames, toHolidays, type Week } from "./frames";
import { jobOf } from "./recomputes";
import { HolidaysEditor, WeekEditor } from "./WeekEditor";

type Calendar = Schemas["BusinessHours"];

const ZONES: string[] = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];

interface Props {
  calendar?: Calendar | undefined;
  /** Saved; `job` is the recompute it queued, if it queued one. */
  onSaved: (job: string | null) => void;
  onCancel?: () => void;
}

/** Creates a calendar or edits one (If-Match: someone else's change is not overwritten). */
export function BusinessHoursForm({ calendar, onSaved, onCancel }: Props) {
  const client = useQueryClient();
  const [name, setName] = useState(calendar?.name ?? "");
  const [zone, setZone] = useState(calendar?.time_zone ?? Intl.DateTimeFormat().resolvedOptions().timeZone);
  const [week, setWeek] = useState<Week>(calendar ? fromFrames(calendar.frames) : officeWeek());
  const [holidays, setHolidays] = useState<Holiday[]>((calendar?.holidays ?? []).map((h) => ({ date: h.date, name: h.name ?? "" })));
  const [feed, setFeed] = useState(calendar?.holiday_feed_url ?? "");
  const [isDefault, setDefault] = useState(calendar?.is_default ?? false);
  const save = useMutation({
    mutationFn: async () => {
      const body = { name, time_zone: zone, frames: toFrames(week), holidays: toHolidays(holidays),
        holiday_feed_url: feed.trim() || null, is_default: isDefault };
      const answer = calendar?.id
        ? await api.PATCH("/v1/business-hours/{record_id}", { params: { path: { record_id: calendar.id },
            header: { "If-Match": etag(calendar.version) } }, body })
        : await api.POST("/v1/business-hours", { body });
      if (answer.error) raise(answer.error);
      return jobOf(answer.response);
    },
    onSuccess: (job) => {
      void client.invalidateQueries({ queryKey: ["business-hours"] });
      void client.invalidateQueries({ queryKey: ["sla-recomputes"] });
      onSaved(job);
    },
  });
  const errors = errorsOf(save.error);
  const prefix = calendar?.id ? "Edit" : "New";

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    save.mutate();
  }

  return (
    <form className="card wide" onSubmit={submit} noValidate aria-label={calendar ? `Edit ${calendar.name}` : "New business hours"}>
      <h4>{prefix === "Edit" ? `Edit ${calendar?.name ?? ""}` : "New business hours"}</h4>
      <Field label="Calendar name" value={name} onChange={(e) => setName(e.target.value)} required errors={errors["name"]} />
      <Field label="Time zone (IANA)" value={zone} list="time-zones" onChange={(e) => setZone(e.target.value)} required
        errors={errors["time_zone"]} />
      <datalist id="time-zones">{ZONES.map((z) => <option key={z} value={z} />)}</datalist>
      <WeekEditor week={week} onChange={setWeek} errors={errorsFor(errors, "frames")} />
      <HolidaysEditor holidays={holidays} onChange={setHolidays} errors={errorsFor(errors, "holidays")} />
      <Field label="Holiday feed URL (iCalendar, optional)" inputMode="url" value={feed} onChange={(e) => setFeed(e.target.value)}
        placeholder="https://example.com/holidays.ics" errors={errors["holiday_feed_url"]} />
      <label className="check"><input type="checkbox" checked={isDefault} onChange={(e) => setDefault(e.target.checked)} />
        Default calendar (for policies without one)</label>
      {save.error && <p role="alert" className="error">{save.error.message}</p>}
      <div className="inline">
        <button type="submit" disabled={save.isPending}>{calendar?.id ? "Save calendar" : "Create calendar"}</button>
        {onCancel && <button type="button" className="secondary" onClick={onCancel}>Cancel</button>}
      </div>
    </form>
  );
}
