// How a record field is edited and shown: the input each field type gets, what the typed text
// becomes in the API's terms, and how a value reads back. The API still checks every value; this
// only turns the input into the shape it expects.

export type InputKind = "text" | "email" | "tel" | "url" | "number" | "date" | "datetime" | "select" | "multiselect" | "checkbox" | "money";

/** The input for a custom field type of /v1/properties (text, number, bool, date, ...). */
export function inputKindOf(propertyType: string): InputKind {
  switch (propertyType) {
    case "number":
      return "number";
    case "bool":
      return "checkbox";
    case "date":
      return "date";
    case "datetime":
      return "datetime";
    case "enum":
      return "select";
    case "multi_enum":
      return "multiselect";
    case "email":
      return "email";
    case "phone":
      return "tel";
    case "url":
      return "url";
    case "money":
      return "money";
    default:
      return "text";
  }
}

export type Parsed = { value: unknown } | { error: string };

/** The typed text (or chosen options, or the box's state) as the API's value; empty is null. */
export function parseInput(kind: InputKind, raw: string | string[] | boolean): Parsed {
  if (kind === "checkbox") return { value: raw === true };
  if (kind === "multiselect") return { value: Array.isArray(raw) ? raw : raw ? [String(raw)] : [] };
  const text = String(raw).trim();
  if (!text) return { value: null };
  switch (kind) {
    case "number": {
      const n = Number(text.replace(",", "."));
      return Number.isFinite(n) ? { value: n } : { error: "Enter a number." };
    }
    case "datetime": {
      const d = new Date(text); // datetime-local: the browser's own zone, sent as UTC
      return Number.isNaN(d.getTime()) ? { error: "Enter a date and time." } : { value: d.toISOString().replace(/\.\d{3}Z$/, "Z") };
    }
    case "money": {
      const m = /^(-?\d+(?:[.,]\d+)?)\s*([A-Za-z]{3})$/.exec(text);
      return m ? { value: { amount: (m[1] ?? "").replace(",", "."), currency: (m[2] ?? "").toUpperCase() } } : { error: "Enter an amount and a currency, e.g. 12.50 EUR." };
    }
    default:
      return { value: text };
  }
}

function isMoney(value: unknown): value is { amount: string; currency: string } {
  return typeof value === "object" && value !== null && "amount" in value && "currency" in value;
}

/** A value as the page shows it ("—" when empty). */
export function display(value: unknown, kind: InputKind = "text"): string {
  if (value === null || value === undefined || value === "" || (Array.isArray(value) && value.length === 0)) return kind === "checkbox" ? "No" : "—";
  if (kind === "checkbox") return value === true ? "Yes" : "No";
  if (Array.isArray(value)) return value.map(String).join(", ");
  if (isMoney(value)) return `${value.amount} ${value.currency}`;
  if (kind === "datetime" && typeof value === "string") {
    const d = new Date(value);
    return Number.isNaN(d.getTime()) ? value : d.toLocaleString();
  }
  return String(value);
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

/** A stored value as the input's starting text: datetime-local wants local time without a zone. */
export function inputText(value: unknown, kind: InputKind): string {
  if (value === null || value === undefined) return "";
  if (kind === "datetime" && typeof value === "string") {
    const d = new Date(value);
    if (Number.isNaN(d.getTime())) return "";
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }
  if (isMoney(value)) return `${value.amount} ${value.currency}`;
  return String(value);
}

/** What a 412 says: the field's value someone else saved first, which the page now shows. */
export function conflictMessage(noun: string, label: string, theirs: string): string {
  return `Someone else changed this ${noun} first: ${label} is now “${theirs}”. The page shows their version; make your change again if you still want it.`;
}
