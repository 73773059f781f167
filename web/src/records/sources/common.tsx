import type { FilterField } from "../filter/filterText";
import type { Column, RecordRow, RenderContext } from "../table/types";

interface Stamped extends RecordRow {
  created_at?: string;
  updated_at?: string;
  last_contacted_at?: string | null;
}

export const when = (value: string | null | undefined): string => (value ? new Date(value).toLocaleString() : "");

/** Columns contacts and companies share. */
export function sharedColumns<R extends Stamped>(): Column<R>[] {
  return [
    { key: "tags", label: "Tags", render: (r) => (r.tags ?? []).join(", ") },
    { key: "owner", label: "Owner", sort: "owner_id", render: (r, c: RenderContext) => (r.owner_id ? (c.users.get(r.owner_id) ?? "Someone else") : "") },
    { key: "last_contacted_at", label: "Last contacted", sort: "last_contacted_at", render: (r) => when(r.last_contacted_at) },
    { key: "created_at", label: "Created", sort: "created_at", render: (r) => when(r.created_at) },
    { key: "updated_at", label: "Updated", sort: "updated_at", render: (r) => when(r.updated_at) },
  ];
}

/** Filter fields contacts and companies share (services/contacts/contacts/service/fields.py). */
export const SHARED_FIELDS: FilterField[] = [
  { key: "tags", label: "Tags", type: "tags" },
  { key: "owner_id", label: "Owner (user id)", type: "uuid" },
  { key: "created_at", label: "Created", type: "datetime" },
  { key: "updated_at", label: "Updated", type: "datetime" },
  { key: "last_contacted_at", label: "Last contacted", type: "datetime" },
];
