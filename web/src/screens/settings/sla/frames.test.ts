import { describe, expect, it } from "vitest";
import { fromFrames, officeWeek, summary, toFrames, toHolidays } from "./frames";

describe("frames", () => {
  it("round-trips several slots a day and leaves closed days out", () => {
    const frames = { mon: [{ start: "09:00", end: "12:00" }, { start: "13:00", end: "17:00" }], fri: [{ start: "09:00", end: "24:00" }] };
    const week = fromFrames(frames);
    expect(week.mon).toHaveLength(2);
    expect(week.sat).toEqual([]);
    expect(toFrames(week)).toEqual(frames);
  });

  it("drops empty slot rows but keeps half-filled ones for the API to judge", () => {
    const week = officeWeek();
    week.sat = [{ start: "", end: "" }];
    week.sun = [{ start: "10:00", end: "" }];
    const frames = toFrames(week);
    expect(frames["sat"]).toBeUndefined();
    expect(frames["sun"]).toEqual([{ start: "10:00", end: "" }]);
    expect(Object.keys(frames)).toEqual(["mon", "tue", "wed", "thu", "fri", "sun"]);
  });

  it("summarises a week", () => {
    expect(summary({ mon: [{ start: "09:00", end: "12:00" }, { start: "13:00", end: "17:00" }] })).toBe("Mon 09:00–12:00, 13:00–17:00");
    expect(summary({})).toBe("Closed every day");
  });

  it("keeps only holidays with a date", () => {
    expect(toHolidays([{ date: "2027-12-24", name: " Christmas Eve " }, { date: "", name: "x" }]))
      .toEqual([{ date: "2027-12-24", name: "Christmas Eve" }]);
  });
});
