// A calendar's week as the form edits it, and the API's `frames` ({"mon": [{"start", "end"}], ...}).

export const DAYS = [
  ["mon", "Monday"], ["tue", "Tuesday"], ["wed", "Wednesday"], ["thu", "Thursday"],
  ["fri", "Friday"], ["sat", "Saturday"], ["sun", "Sunday"],
] as const;

export type Day = (typeof DAYS)[number][0];
export type Slot = { start: string; end: string };
export type Week = Record<Day, Slot[]>;
export type Holiday = { date: string; name: string };

type Frames = Record<string, Record<string, unknown>[]>;

export function emptyWeek(): Week {
  return { mon: [], tue: [], wed: [], thu: [], fri: [], sat: [], sun: [] };
}

/** Monday to Friday, 09:00 to 17:00: what a new calendar starts from. */
export function officeWeek(): Week {
  const week = emptyWeek();
  for (const day of ["mon", "tue", "wed", "thu", "fri"] as const) week[day] = [{ start: "09:00", end: "17:00" }];
  return week;
}

export function fromFrames(frames: Frames | undefined): Week {
  const week = emptyWeek();
  for (const [day] of DAYS) {
    week[day] = (frames?.[day] ?? []).map((s) => ({ start: String(s["start"] ?? ""), end: String(s["end"] ?? "") }));
  }
  return week;
}

/** Days without slots are left out (closed); the API checks the times and overlaps. */
export function toFrames(week: Week): Record<string, Slot[]> {
  const frames: Record<string, Slot[]> = {};
  for (const [day] of DAYS) {
    const slots = week[day].filter((s) => s.start.trim() || s.end.trim()).map((s) => ({ start: s.start.trim(), end: s.end.trim() }));
    if (slots.length) frames[day] = slots;
  }
  return frames;
}

/** "Mon 09:00–12:00, 13:00–17:00 · Tue …" for a list. */
export function summary(frames: Frames | undefined): string {
  const week = fromFrames(frames);
  const parts = DAYS.filter(([day]) => week[day].length).map(([day, label]) =>
    `${label.slice(0, 3)} ${week[day].map((s) => `${s.start}–${s.end}`).join(", ")}`);
  return parts.length ? parts.join(" · ") : "Closed every day";
}

/** Rows with a date only: an empty row the user added and left is no holiday. */
export function toHolidays(rows: Holiday[]): Holiday[] {
  return rows.filter((h) => h.date.trim()).map((h) => ({ date: h.date.trim(), name: h.name.trim() }));
}
