// Which value a merge keeps, field by field: the page shows the fields where the two records
// differ; where both have a value the user picks one, and the picks the survivor does not already
// hold are sent as `keep_from_secondary`. (Where one side is empty the API keeps the other's.)
import { display } from "./fieldValue";
import type { FieldSpec } from "./types";

export type Side = "this" | "other";

export interface MergeRow {
  key: string;
  label: string;
  mine: string;
  theirs: string;
  /** Both have a value, and the API can take the other's: the user chooses. */
  choosable: boolean;
  mergeKey: string | undefined;
}

const EMPTY = "—";

export function differingRows<R>(compare: FieldSpec<R, unknown>[], record: R, other: R): MergeRow[] {
  return compare.flatMap((f) => {
    const mine = display(f.read(record), f.kind);
    const theirs = display(f.read(other), f.kind);
    if (mine === theirs) return [];
    const choosable = Boolean(f.mergeKey) && mine !== EMPTY && theirs !== EMPTY;
    return [{ key: f.key, label: f.label, mine, theirs, choosable, mergeKey: f.mergeKey }];
  });
}

/** The side whose value the merged record has, given the picks and which record stays. */
export function sideOf(row: MergeRow, picks: Partial<Record<string, Side>>, keep: Side): Side {
  if (!row.choosable) return row.mine === EMPTY ? "other" : "this";
  return picks[row.key] ?? keep;
}

/** The merge's `keep_from_secondary`: chosen fields whose value is the record that goes away's. */
export function keepFromSecondary(rows: MergeRow[], picks: Partial<Record<string, Side>>, keep: Side): string[] {
  return rows.filter((r) => r.choosable && r.mergeKey && sideOf(r, picks, keep) !== keep).map((r) => r.mergeKey ?? "");
}
