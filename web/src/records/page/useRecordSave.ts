import { type QueryKey, useQueryClient } from "@tanstack/react-query";
import { conflictMessage, display } from "./fieldValue";
import type { FieldSpec, RecordAdapter, Versioned } from "./types";

/** Someone else saved first: the page now shows their version. */
export class Conflict extends Error {}

/** Saves one field of the record shown under `queryKey`, with If-Match (through the adapter). A 412
 * puts the current record in the cache and throws a Conflict naming the other person's value. */
export function useRecordSave<R extends Versioned, B>(adapter: RecordAdapter<R, B>, record: R, queryKey: QueryKey) {
  const client = useQueryClient();
  return async (spec: FieldSpec<R, B>, value: unknown): Promise<void> => {
    const result = await adapter.patch(record, spec.body(value));
    if ("record" in result) {
      client.setQueryData(queryKey, result.record);
      return;
    }
    if ("conflict" in result) {
      client.setQueryData(queryKey, result.conflict);
      throw new Conflict(conflictMessage(adapter.noun, spec.label, display(spec.read(result.conflict), spec.kind)));
    }
    throw new Error(result.error);
  };
}
