import { DAYS, type Day, type Holiday, type Slot, type Week } from "./frames";

interface WeekProps {
  week: Week;
  onChange: (week: Week) => void;
  errors?: string[] | undefined;
}

/** Open slots per weekday, any number a day; a day without slots is closed. */
export function WeekEditor({ week, onChange, errors }: WeekProps) {
  function set(day: Day, slots: Slot[]) {
    onChange({ ...week, [day]: slots });
  }
  return (
    <fieldset className="week" aria-describedby={errors ? "week-errors" : undefined}>
      <legend>Weekly hours (HH:MM; 24:00 ends a day)</legend>
      {errors && <p id="week-errors" className="error">{errors.join(" ")}</p>}
      {DAYS.map(([day, label]) => (
        <div key={day} className="day" role="group" aria-label={label}>
          <span className="day-name">{label}</span>
          {week[day].length === 0 && <span className="muted">Closed</span>}
          {week[day].map((slot, i) => (
            <span key={i} className="slot">
              <label className="sr-only" htmlFor={`${day}-${i}-start`}>{label} slot {i + 1} opens</label>
              <input id={`${day}-${i}-start`} className="time" inputMode="numeric" placeholder="09:00" value={slot.start}
                onChange={(e) => set(day, week[day].map((s, j) => (j === i ? { ...s, start: e.target.value } : s)))} />
              <span aria-hidden="true">–</span>
              <label className="sr-only" htmlFor={`${day}-${i}-end`}>{label} slot {i + 1} closes</label>
              <input id={`${day}-${i}-end`} className="time" inputMode="numeric" placeholder="17:00" value={slot.end}
                onChange={(e) => set(day, week[day].map((s, j) => (j === i ? { ...s, end: e.target.value } : s)))} />
              <button type="button" className="link" aria-label={`Remove ${label} slot ${i + 1}`}
                onClick={() => set(day, week[day].filter((_, j) => j !== i))}>Remove</button>
            </span>
          ))}
          <button type="button" className="link" aria-label={`Add a slot to ${label}`}
            onClick={() => set(day, [...week[day], { start: "", end: "" }])}>Add a slot</button>
        </div>
      ))}
    </fieldset>
  );
}

interface HolidayProps {
  holidays: Holiday[];
  onChange: (holidays: Holiday[]) => void;
  errors?: string[] | undefined;
}

/** Dates closed all day, in the calendar's time zone. */
export function HolidaysEditor({ holidays, onChange, errors }: HolidayProps) {
  return (
    <fieldset aria-describedby={errors ? "holiday-errors" : undefined}>
      <legend>Holidays</legend>
      {errors && <p id="holiday-errors" className="error">{errors.join(" ")}</p>}
      {holidays.length === 0 && <p className="muted">No holidays of its own.</p>}
      {holidays.map((h, i) => (
        <div key={i} className="slot">
          <label className="sr-only" htmlFor={`holiday-${i}-date`}>Holiday {i + 1} date</label>
          <input id={`holiday-${i}-date`} type="date" value={h.date}
            onChange={(e) => onChange(holidays.map((x, j) => (j === i ? { ...x, date: e.target.value } : x)))} />
          <label className="sr-only" htmlFor={`holiday-${i}-name`}>Holiday {i + 1} name</label>
          <input id={`holiday-${i}-name`} placeholder="Name" value={h.name}
            onChange={(e) => onChange(holidays.map((x, j) => (j === i ? { ...x, name: e.target.value } : x)))} />
          <button type="button" className="link" aria-label={`Remove holiday ${i + 1}`}
            onClick={() => onChange(holidays.filter((_, j) => j !== i))}>Remove</button>
        </div>
      ))}
      <button type="button" className="link" onClick={() => onChange([...holidays, { date: "", name: "" }])}>Add a holiday</button>
    </fieldset>
  );
}
