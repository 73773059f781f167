import type { ReactNode } from "react";
import type { FilterField } from "../filter/filterText";

/** What the shared table needs of a record (contacts and companies both have it). */
export interface RecordRow {
  id?: string;
  version?: number;
  tags?: string[];
  owner_id?: string | null;
  properties?: unknown;
}

export interface RenderContext {
  /** Display names of the tenant's users by id (empty when the caller may not list users). */
  users: ReadonlyMap<string, string>;
}

/** One column of the table: how to show a row's value, and the field key to sort by (none: not sortable). */
export interface Column<R> {
  key: string;
  label: string;
  sort?: string | null | undefined;
  render: (row: R, context: RenderContext) => ReactNode;
}

export interface ListQuery {
  q: string;
  filter: string;
  sort: string;
}

export interface ListPage<R> {
  data: R[];
  next_cursor?: string | null | undefined;
}

export interface BatchItemResult {
  status?: number;
  id?: string | null;
  errors?: Record<string, string[]> | null;
}

export type Objects = "contacts" | "companies";

/** Everything the shared list needs to know of one kind of record. */
export interface RecordSource<R extends RecordRow> {
  object: Objects;
  singular: string; // "contact"
  plural: string; // "contacts"
  title: (row: R) => string;
  link: (row: R) => string;
  columns: Column<R>[];
  defaultColumns: string[];
  defaultSort: string;
  /** Built-in fields the filter builder offers (custom fields are added from /v1/properties). */
  fields: FilterField[];
  list: (query: ListQuery, cursor: string | undefined) => Promise<ListPage<R>>;
  batch: (mode: "update" | "delete", items: Record<string, unknown>[]) => Promise<BatchItemResult[]>;
}
