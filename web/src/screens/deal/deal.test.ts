import { describe, expect, it } from "vitest";
import type { Stage } from "../../api/client";
import { activityBody } from "./DealTimeline";
import { describeChange } from "./history";
import { parseProperty, propertyText } from "./properties";

describe("custom field values", () => {
  it("shapes what a form holds as the API's types; empty clears", () => {
    expect(parseProperty("number", ["12,5"])).toEqual({ value: 12.5 });
    expect(parseProperty("number", ["x"])).toEqual({ error: "Enter a number." });
    expect(parseProperty("bool", ["false"])).toEqual({ value: false });
    expect(parseProperty("money", ["12.50 eur"])).toEqual({ value: { amount: "12.50", currency: "EUR" } });
    expect(parseProperty("multi_enum", ["a", "b"])).toEqual({ value: ["a", "b"] });
    expect(parseProperty("text", ["  "])).toEqual({ value: null });
    expect(parseProperty("date", ["2027-01-02"])).toEqual({ value: "2027-01-02" });
  });

  it("shows stored values as text", () => {
    expect(propertyText("bool", true)).toBe("Yes");
    expect(propertyText("multi_enum", ["a", "b"])).toBe("a, b");
    expect(propertyText("money", { amount: "1.00", currency: "EUR" })).toBe("1.00 EUR");
    expect(propertyText("text", null)).toBe("");
  });
});

describe("history", () => {
  const stages = [{ id: "s1", name: "Lead" }, { id: "s2", name: "Won" }] as Stage[];
  it("names stages and owners", () => {
    expect(describeChange({ field: "stage_id", from_stage_id: "s1", to_stage_id: "s2" }, stages, () => "")).toBe("Stage: Lead → Won");
    expect(describeChange({ field: "stage_id", from_stage_id: null, to_stage_id: "s1" }, stages, () => "")).toBe("Stage: Lead");
    expect(describeChange({ field: "owner_id", old_value: null, new_value: "u" }, stages, () => "Ada")).toBe("Owner: nobody → Ada");
    expect(describeChange({ field: "amount", old_value: { amount: "1.00", currency: "EUR" }, new_value: null }, stages, () => ""))
      .toBe("Amount: 1.00 EUR → none");
  });
});

describe("activityBody", () => {
  it("sends each kind's fields", () => {
    const form = new FormData();
    form.set("subject", "Kick-off");
    form.set("body", "Agenda");
    form.set("direction", "inbound");
    form.set("starts_at", "2027-01-02T10:00");
    expect(activityBody("note", form)).toEqual({ type: "note", subject: "Kick-off", body: "Agenda" });
    expect(activityBody("call", form).direction).toBe("inbound");
    expect(activityBody("meeting", form).starts_at).toMatch(/^2027-01-02T\d\d:00:00.000Z$/);
    expect(activityBody("meeting", form).direction).toBeUndefined();
  });
});
