import { describe, expect, it } from "vitest";
import { type Activity, activityBody, activityDetails } from "./activityBody";

const form = (values: Record<string, string>) => (name: string) => values[name] ?? "";

describe("activityBody", () => {
  it("sends only the fields the kind takes", () => {
    const all = { body: "Talked", subject: "Hi", direction: "inbound", outcome: "busy", duration_minutes: "1.5", location: "HQ" };
    expect(activityBody("note", form(all))).toEqual({ type: "note", body: "Talked" });
    expect(activityBody("call", form(all))).toEqual({ type: "call", body: "Talked", direction: "inbound", outcome: "busy", duration_seconds: 90 });
    expect(activityBody("email", form(all))).toEqual({ type: "email", body: "Talked", subject: "Hi", direction: "inbound" });
    expect(activityBody("meeting", form(all))).toEqual({ type: "meeting", body: "Talked", subject: "Hi", location: "HQ" });
  });

  it("sends meeting times in UTC and leaves empty fields out", () => {
    const body = activityBody("meeting", form({ subject: "Kickoff", starts_at: "2026-12-04T10:00", ends_at: "2026-12-04T11:00" }));
    expect(body).toEqual({
      type: "meeting", subject: "Kickoff",
      starts_at: new Date("2026-12-04T10:00").toISOString().replace(".000Z", "Z"),
      ends_at: new Date("2026-12-04T11:00").toISOString().replace(".000Z", "Z"),
    });
    expect(activityBody("call", form({ duration_minutes: "soon" }))).toEqual({ error: "Duration: enter minutes, e.g. 15." });
  });

  it("sums up an entry in one line", () => {
    expect(activityDetails({ type: "call", direction: "outbound", outcome: "left_voicemail", duration_seconds: 120 } as Activity))
      .toBe("outbound · left voicemail · 2 min");
    expect(activityDetails({ type: "note" } as Activity)).toBe("");
  });
});
