// Custom deal fields (/v1/properties/deals): a typed value from what a form holds, and back to text.
// The API checks every value (422 naming properties.<key>); this only shapes it.
import type { Schemas } from "../../api/client";

export type Property = Schemas["Property"];

export type Parsed = { value: unknown } | { error: string };

/** `raw`: the form's values for the field (several for a multi_enum). Empty clears the value (null). */
export function parseProperty(type: string | undefined, raw: string[]): Parsed {
  const text = (raw[0] ?? "").trim();
  if (type === "multi_enum") return { value: raw.length ? raw : null };
  if (text === "") return { value: null };
  switch (type) {
    case "number": {
      const n = Number(text.replace(",", "."));
      return Number.isFinite(n) ? { value: n } : { error: "Enter a number." };
    }
    case "bool":
      return { value: text === "true" };
    case "money": {
      const match = /^(-?\d+(?:[.,]\d{1,2})?)\s*([A-Za-z]{3})$/.exec(text);
      return match ? { value: { amount: (match[1] ?? "").replace(",", "."), currency: (match[2] ?? "").toUpperCase() } }
        : { error: "Enter an amount and a currency, e.g. 12.50 EUR." };
    }
    default:
      return { value: text };
  }
}

/** A stored value as the page shows it and as its editor starts from. */
export function propertyText(type: string | undefined, value: unknown): string {
  if (value === null || value === undefined) return "";
  if (type === "bool") return value ? "Yes" : "No";
  if (Array.isArray(value)) return value.join(", ");
  if (type === "money" && typeof value === "object") {
    const m = value as { amount?: string; currency?: string };
    return `${m.amount ?? ""} ${m.currency ?? ""}`.trim();
  }
  return String(value);
}
