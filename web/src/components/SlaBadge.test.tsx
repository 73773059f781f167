import { describe, expect, it } from "vitest";
import { slaText } from "./SlaBadge";

const NOW = Date.parse("2026-12-03T12:00:00Z");

describe("slaText", () => {
  it("counts down, warns within the hour and says overdue after", () => {
    expect(slaText({ dueAt: "2026-12-03T15:30:00Z" }, NOW)).toEqual({ text: "Due in 3 h 30 min", tone: "" });
    expect(slaText({ dueAt: "2026-12-03T12:45:00Z" }, NOW)).toEqual({ text: "Due in 45 min", tone: "warning" });
    expect(slaText({ dueAt: "2026-12-03T11:50:00Z" }, NOW)).toEqual({ text: "Overdue 10 min", tone: "danger" });
  });
  it("says breached, met, paused or no SLA before any countdown", () => {
    expect(slaText({ dueAt: "2026-12-03T15:30:00Z", breached: true }, NOW).text).toBe("SLA breached");
    expect(slaText({ dueAt: null, metAt: "2026-12-03T11:00:00Z" }, NOW).text).toBe("Met");
    expect(slaText({ dueAt: null, paused: true }, NOW).text).toBe("Paused");
    expect(slaText({ dueAt: null }, NOW).text).toBe("No SLA");
  });
});
