import { describe, expect, it } from "vitest";
import { ownerRows, pct } from "./forecastRows";
import { tomorrow } from "../myday/FollowUps";

describe("ownerRows", () => {
  it("names each period's owner groups from the directory, with target and attainment", () => {
    const rows = ownerRows(
      [{ period: "2026-12", groups: [
        { owner_id: "u1", won: "500.00", commit: "0.00", best_case: "0.00", weighted: "0.00", quota: "1000.00", attainment: 0.5 },
        { owner_id: null, won: "10.00", commit: "0.00", best_case: "0.00", weighted: "0.00", quota: null, attainment: null },
        { owner_id: "gone", won: "0.00", commit: "0.00", best_case: "0.00", weighted: "0.00", quota: null, attainment: null },
      ] }],
      [{ id: "u1", name: "Ada", email: "ada@example.com" }],
    );
    expect(rows.map((r) => [r.owner, r.quota, pct(r.attainment)])).toEqual([
      ["Ada", "1000.00", "50 %"], ["No owner", null, "—"], ["A former user", null, "—"],
    ]);
  });
});

describe("tomorrow", () => {
  it("is the next calendar day in the browser's zone, across a month end", () => {
    expect(tomorrow(new Date(2026, 11, 31, 23, 30))).toBe("2027-01-01");
  });
});
