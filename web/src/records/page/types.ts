import type { InputKind } from "./fieldValue";

/** What every record of the API has that a record page relies on. */
export interface Versioned {
  id?: string;
  version?: number;
}

/** One field of a record page: where its value is read and what a change sends. */
export interface FieldSpec<R, B> {
  key: string;
  label: string;
  kind: InputKind;
  options?: readonly string[] | null | undefined;
  read: (record: R) => unknown;
  body: (value: unknown) => B;
  /** The name a merge's `keep_from_secondary` knows the field by (none: the field is not chosen in a merge). */
  mergeKey?: string;
}

/** A PATCH guarded by If-Match, as the page sees it: saved, beaten by someone else's change
 * (with the record as it now is), or refused with the API's reason. */
export type PatchResult<R> = { record: R } | { conflict: R } | { error: string };

export interface RecordAdapter<R extends Versioned, B> {
  noun: string;
  patch: (record: R, body: B) => Promise<PatchResult<R>>;
}

/** A likely duplicate as /v1/{contacts|companies}/{id}/duplicates lists it. */
export interface Suggestion<R> {
  record: R;
  score: number;
  reasons: string[];
}

export interface MergeAdapter<R> {
  noun: string;
  nameOf: (record: R) => string;
  linkOf: (id: string) => string;
  duplicates: (id: string) => Promise<Suggestion<R>[]>;
  /** Merges the secondary into the primary; `keepFromSecondary` names the fields whose value comes from the secondary. */
  merge: (primaryId: string, secondaryId: string, keepFromSecondary: string[]) => Promise<R>;
  /** Undoes a merge into `id`; answers the restored record. */
  unmerge: (id: string, mergedId: string) => Promise<R>;
}

/** The custom field values of a record (`properties`), whatever the generated type says. */
export function propertiesOf(record: { properties?: unknown }): Record<string, unknown> {
  const p = record.properties;
  return typeof p === "object" && p !== null && !Array.isArray(p) ? (p as Record<string, unknown>) : {};
}
