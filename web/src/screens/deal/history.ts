import type { Schemas, Stage } from "../../api/client";

export type HistoryEntry = Schemas["DealHistoryEntry"];

const LABELS: Record<string, string> = {
  stage_id: "Stage", amount: "Amount", expected_close_date: "Close date", owner_id: "Owner", probability: "Probability",
  forecast_category: "Forecast category", status: "Status",
};

function valueText(value: unknown, field: string): string {
  if (value === null || value === undefined || value === "") return "none";
  if (typeof value === "object") {
    const m = value as { amount?: unknown; currency?: unknown };
    if ("amount" in m) return `${String(m.amount)} ${String(m.currency ?? "")}`.trim();
    return JSON.stringify(value);
  }
  return field === "probability" ? `${String(value)} %` : String(value);
}

/** One change as a sentence: "Stage: Qualified → Proposal", "Amount: 100.00 EUR → 250.00 EUR". */
export function describeChange(entry: HistoryEntry, stages: Stage[], ownerName: (id: string) => string): string {
  const field = entry.field ?? "";
  const label = LABELS[field] ?? field;
  if (field === "stage_id") {
    const name = (id: string | null | undefined) => (id ? stages.find((s) => s.id === id)?.name ?? "another stage" : "none");
    return `${label}: ${entry.from_stage_id ? `${name(entry.from_stage_id)} → ` : ""}${name(entry.to_stage_id)}`;
  }
  if (field === "owner_id") {
    const who = (v: unknown) => (typeof v === "string" && v ? ownerName(v) : "nobody");
    return `${label}: ${who(entry.old_value)} → ${who(entry.new_value)}`;
  }
  return `${label}: ${valueText(entry.old_value, field)} → ${valueText(entry.new_value, field)}`;
}
