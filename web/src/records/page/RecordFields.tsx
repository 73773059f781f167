import type { QueryKey } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { RecordField } from "./RecordField";
import type { FieldSpec, RecordAdapter, Versioned } from "./types";
import { useRecordSave } from "./useRecordSave";

interface Props<R extends Versioned, B> {
  adapter: RecordAdapter<R, B>;
  record: R;
  queryKey: QueryKey;
  specs: FieldSpec<R, B>[];
  /** Read-only rows after the editable ones (a dt and a dd each). */
  children?: ReactNode;
}

/** A list of fields edited in place, each saved on its own with If-Match. */
export function RecordFields<R extends Versioned, B>({ adapter, record, queryKey, specs, children }: Props<R, B>) {
  const save = useRecordSave(adapter, record, queryKey);
  return (
    <dl className="fields">
      {specs.map((s) => <RecordField key={s.key} spec={s} record={record} save={save} />)}
      {children}
    </dl>
  );
}
