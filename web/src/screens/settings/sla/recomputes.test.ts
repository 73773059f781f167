import { describe, expect, it } from "vitest";
import { finished, jobOf, percent } from "./recomputes";

describe("recomputes", () => {
  it("reads the job a write queued from its answer", () => {
    expect(jobOf(new Response(null, { headers: { "Sla-Recompute-Id": "abc" } }))).toBe("abc");
    expect(jobOf(new Response(null))).toBeNull();
  });

  it("counts progress in whole percent", () => {
    expect(percent({ status: "running", tickets_total: 3, tickets_done: 1 })).toBe(33);
    expect(percent({ status: "queued", tickets_total: 0, tickets_done: 0 })).toBe(0);
    expect(percent({ status: "completed", tickets_total: 0, tickets_done: 0 })).toBe(100);
  });

  it("knows when to stop polling", () => {
    expect(finished({ status: "running" })).toBe(false);
    expect(finished({ status: "failed" })).toBe(true);
    expect(finished(undefined)).toBe(false);
  });
});
