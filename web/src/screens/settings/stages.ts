// The stage list being edited on the pipelines page: a draft of the whole ordered list, sent in one
// PATCH /v1/pipelines/{id} (the list order is the stage order). The rules (names distinct, one open
// stage, won/lost stages closed) are the API's; its errors come back per item as `stages.<i>.<field>`.
import type { Schemas, Stage } from "../../api/client";

export type StageIn = Schemas["StageIn"];
export type StageKind = NonNullable<StageIn["kind"]>;
export type ForecastCategory = NonNullable<StageIn["forecast_category"]>;

export const KINDS: { value: StageKind; label: string }[] = [
  { value: "open", label: "Open" },
  { value: "won", label: "Won" },
  { value: "lost", label: "Lost" },
];

export const CATEGORIES: { value: ForecastCategory; label: string }[] = [
  { value: "pipeline", label: "Pipeline" },
  { value: "best_case", label: "Best case" },
  { value: "commit", label: "Commit" },
  { value: "closed", label: "Closed" },
  { value: "omitted", label: "Omitted" },
];

export interface StageDraft {
  /** A stable React key: the stage id, or a made-up one for a stage not saved yet. */
  key: string;
  id?: string;
  name: string;
  probability: string;
  kind: StageKind;
  /** "" leaves it to the API (the default of the kind and probability). */
  forecastCategory: ForecastCategory | "";
  rottenDays: string;
  archived: boolean;
}

function isKind(value: string | undefined): value is StageKind {
  return value === "open" || value === "won" || value === "lost";
}

function isCategory(value: string | undefined): value is ForecastCategory {
  return CATEGORIES.some((c) => c.value === value);
}

export function fromStages(stages: readonly Stage[]): StageDraft[] {
  return [...stages]
    .sort((a, b) => (a.position ?? 0) - (b.position ?? 0))
    .map((s) => ({
      key: s.id ?? "",
      ...(s.id ? { id: s.id } : {}),
      name: s.name ?? "",
      probability: String(s.probability ?? 0),
      kind: isKind(s.kind) ? s.kind : "open",
      forecastCategory: isCategory(s.forecast_category) ? s.forecast_category : "",
      rottenDays: s.rotten_days == null ? "" : String(s.rotten_days),
      archived: Boolean(s.archived),
    }));
}

let counter = 0;

export function newStage(): StageDraft {
  counter += 1;
  return { key: `new-${counter}`, name: "", probability: "", kind: "open", forecastCategory: "", rottenDays: "", archived: false };
}

/** The list with item `index` moved by `delta` places (unchanged at the ends). */
export function move<T>(list: readonly T[], index: number, delta: number): T[] {
  const target = index + delta;
  if (index < 0 || index >= list.length || target < 0 || target >= list.length) return [...list];
  const out = [...list];
  const [item] = out.splice(index, 1);
  if (item !== undefined) out.splice(target, 0, item);
  return out;
}

/** A change of one stage; a new kind drops the category so that the API gives the kind's default. */
export function change(draft: StageDraft, patch: Partial<StageDraft>): StageDraft {
  const next = { ...draft, ...patch };
  if (patch.kind !== undefined && patch.kind !== draft.kind && patch.forecastCategory === undefined) next.forecastCategory = "";
  return next;
}

function integer(text: string): number | undefined {
  const trimmed = text.trim();
  return trimmed === "" ? undefined : Number(trimmed);
}

/** The body's `stages`: every stage in list order, empty inputs left out for the API to judge. */
export function toStagesIn(list: readonly StageDraft[]): StageIn[] {
  return list.map((s, position) => {
    const probability = integer(s.probability);
    const rotten = integer(s.rottenDays);
    return {
      ...(s.id ? { id: s.id } : {}),
      name: s.name.trim(),
      kind: s.kind,
      position,
      archived: s.archived,
      rotten_days: rotten ?? null,
      ...(probability !== undefined ? { probability } : {}),
      ...(s.forecastCategory ? { forecast_category: s.forecastCategory } : {}),
    };
  });
}

/** Whether the draft differs from the saved stages. */
export function changed(list: readonly StageDraft[], saved: readonly Stage[]): boolean {
  return JSON.stringify(toStagesIn(list)) !== JSON.stringify(toStagesIn(fromStages(saved)));
}
