import { describe, expect, it } from "vitest";
import { conflictMessage, display, inputKindOf, inputText, parseInput } from "./fieldValue";

describe("custom field inputs", () => {
  it("gives each property type its input", () => {
    expect(["text", "number", "bool", "date", "datetime", "enum", "multi_enum", "email", "phone", "url", "money", "new"].map(inputKindOf))
      .toEqual(["text", "number", "checkbox", "date", "datetime", "select", "multiselect", "email", "tel", "url", "money", "text"]);
  });

  it("turns what was typed into the API's value, empty into null", () => {
    expect(parseInput("text", "  Pro  ")).toEqual({ value: "Pro" });
    expect(parseInput("text", "   ")).toEqual({ value: null });
    expect(parseInput("number", "12,5")).toEqual({ value: 12.5 });
    expect(parseInput("number", "twelve")).toEqual({ error: "Enter a number." });
    expect(parseInput("checkbox", true)).toEqual({ value: true });
    expect(parseInput("checkbox", false)).toEqual({ value: false });
    expect(parseInput("multiselect", ["a", "b"])).toEqual({ value: ["a", "b"] });
    expect(parseInput("date", "2026-12-03")).toEqual({ value: "2026-12-03" });
    expect(parseInput("money", "12.50 eur")).toEqual({ value: { amount: "12.50", currency: "EUR" } });
    expect(parseInput("money", "lots")).toHaveProperty("error");
    const at = parseInput("datetime", "2026-12-03T10:30");
    expect(at).toEqual({ value: new Date("2026-12-03T10:30").toISOString().replace(".000Z", "Z") });
  });

  it("shows values readably and starts inputs from them", () => {
    expect(display(null)).toBe("—");
    expect(display([], "multiselect")).toBe("—");
    expect(display(["a", "b"], "multiselect")).toBe("a, b");
    expect(display(true, "checkbox")).toBe("Yes");
    expect(display(null, "checkbox")).toBe("No");
    expect(display({ amount: "3.00", currency: "EUR" }, "money")).toBe("3.00 EUR");
    expect(display(7, "number")).toBe("7");
    expect(inputText({ amount: "3.00", currency: "EUR" }, "money")).toBe("3.00 EUR");
    const local = inputText("2026-12-03T10:30:00Z", "datetime");
    expect(new Date(local).toISOString()).toBe("2026-12-03T10:30:00.000Z");
  });

  it("says whose value won a conflict", () => {
    expect(conflictMessage("contact", "Last name", "Hopper")).toContain("Someone else changed this contact first: Last name is now “Hopper”");
  });
});
