import type { Schemas } from "../../api/client";
import { displayName, type Person } from "../tickets/mentions";

type Period = Schemas["ForecastPeriod"];

export interface OwnerRow {
  period: string;
  ownerId: string | null;
  owner: string;
  won: string;
  commit: string;
  bestCase: string;
  weighted: string;
  quota: string | null;
  attainment: number | null;
}

export function pct(value: number | null | undefined): string {
  return value == null ? "—" : `${Math.round(value * 100)} %`;
}

/** One row per period and owner (the API's groups), owners named from the directory. */
export function ownerRows(periods: Period[], people: Person[]): OwnerRow[] {
  const names = new Map(people.map((p) => [p.id, displayName(p)]));
  return periods.flatMap((p) =>
    (p.groups ?? []).map((g) => ({
      period: p.period ?? "",
      ownerId: g.owner_id ?? null,
      owner: g.owner_id ? (names.get(g.owner_id) ?? "A former user") : "No owner",
      won: g.won ?? "0.00",
      commit: g.commit ?? "0.00",
      bestCase: g.best_case ?? "0.00",
      weighted: g.weighted ?? "0.00",
      quota: g.quota ?? null,
      attainment: g.attainment ?? null,
    })),
  );
}
