import { useInfiniteQuery, useMutation } from "@tanstack/react-query";
import { type FormEvent, type ReactNode, useEffect, useMemo, useState } from "react";
import { Field } from "../../components/Field";
import { type FilterField, idsFilter } from "../filter/filterText";
import { BulkActions } from "./BulkActions";
import { ColumnPicker } from "./ColumnPicker";
import { ExportJob, type ExportRequest, startExport } from "./ExportJob";
import { FilterBuilder } from "./FilterBuilder";
import { RecordTable } from "./RecordTable";
import { SavedViews } from "./SavedViews";
import type { Column, RecordRow, RecordSource } from "./types";
import { formatProperty, propertyOf, useCustomFields } from "./useCustomFields";
import { useListParams } from "./useListParams";
import { useUsers } from "./useUsers";

interface Props<R extends RecordRow> {
  source: RecordSource<R>;
  title: string;
  /** Links and buttons beside the title (import, new record). */
  actions?: ReactNode;
  /** Shown under the title (a new-record form). */
  children?: ReactNode;
}

function customColumn<R extends RecordRow>(field: FilterField): Column<R> {
  const sortable = field.type !== "multi_enum" && field.type !== "tags";
  return { key: field.key, label: field.label, sort: sortable ? field.key : null, render: (row) => formatProperty(propertyOf(row, field.key), field.type) };
}

/** The shared list screen of a kind of record: search, filter (raw text and builder), sort,
 * columns, saved views, bulk actions and export, all but the selection kept in the URL. */
export function RecordList<R extends RecordRow>({ source, title, actions, children }: Props<R>) {
  const [params, setParams] = useListParams(source.defaultSort);
  const { q, filter, sort } = params;
  const custom = useCustomFields(source.object);
  const users = useUsers();
  const fields = useMemo(() => [...source.fields, ...(custom.data ?? [])], [source.fields, custom.data]);
  const available = useMemo(() => [...source.columns, ...(custom.data ?? []).map((f) => customColumn<R>(f))], [source.columns, custom.data]);
  const chosen = params.columns.length ? params.columns.filter((k) => available.some((c) => c.key === k)) : source.defaultColumns;
  const visible = available.filter((c) => chosen.includes(c.key));
  const context = useMemo(() => ({ users: new Map((users.data ?? []).map((u) => [u.id, u.name])) }), [users.data]);

  const [draft, setDraft] = useState(filter);
  const [building, setBuilding] = useState(false);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [exporting, setExporting] = useState<{ jobId: string; label: string } | null>(null);
  useEffect(() => setDraft(filter), [filter]);
  useEffect(() => setSelected(new Set()), [q, filter, sort]);

  const list = useInfiniteQuery({
    queryKey: [source.object, "list", q, filter, sort],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) => source.list({ q, filter, sort }, pageParam),
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  const rows = list.data?.pages.flatMap((page) => page.data) ?? [];
  const selectedRows = rows.filter((r) => r.id && selected.has(r.id));

  const exportStart = useMutation({
    mutationFn: async (request: ExportRequest) => ({ jobId: await startExport(source.object, request), label: request.label }),
    onSuccess: setExporting,
  });

  function search(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setParams({ q: String(form.get("q") ?? "").trim(), filter: draft.trim() });
  }

  function select(ids: string[], on: boolean) {
    setSelected((prev) => {
      const next = new Set(prev);
      for (const id of ids) {
        if (on) next.add(id);
        else next.delete(id);
      }
      return next;
    });
  }

  const noun = selectedRows.length === 1 ? source.singular : source.plural;
  return (
    <section aria-labelledby={`${source.object}-title`} className="record-list">
      <div className="toolbar">
        <h1 id={`${source.object}-title`}>{title}</h1>
        {actions}
      </div>
      {children}
      <SavedViews object={source.object} current={params} defaultSort={source.defaultSort} onApply={setParams} />
      <form className="filters" role="search" onSubmit={search} key={`${q}`}>
        <Field label="Search" name="q" type="search" defaultValue={q} placeholder={source.object === "contacts" ? "Name, email, phone" : "Name, domain"} />
        <Field label="Filter" name="filter" value={draft} onChange={(e) => setDraft(e.currentTarget.value)}
          placeholder={source.object === "contacts" ? "lifecycle_stage = 'lead'" : "size >= 100"} />
        <button type="submit">Apply</button>
        <button type="button" className="secondary" aria-expanded={building} aria-controls={`${source.object}-builder`}
          onClick={() => setBuilding((v) => !v)}>
          Condition builder
        </button>
      </form>
      <div id={`${source.object}-builder`} hidden={!building}>
        {building && <FilterBuilder text={draft} fields={fields} onChange={setDraft} />}
      </div>
      <div className="list-tools">
        <ColumnPicker available={available} chosen={chosen} onChange={(columns) => setParams({ columns })}
          onReset={() => setParams({ columns: [] })} />
        <button type="button" className="secondary" disabled={exportStart.isPending}
          onClick={() => exportStart.mutate({ label: `all matching ${source.plural}`, filter, q })}>
          Export all matching
        </button>
      </div>
      {exportStart.error && <p role="alert" className="error">{exportStart.error.message}</p>}
      {exporting && <ExportJob key={exporting.jobId} object={source.object} jobId={exporting.jobId} label={exporting.label} onClose={() => setExporting(null)} />}
      <BulkActions source={source} rows={selectedRows} users={users.data ?? []} onDone={() => setSelected(new Set())}
        onExport={() => exportStart.mutate({ label: `${selectedRows.length} selected ${noun}`, q: "",
          filter: idsFilter(selectedRows.map((r) => r.id ?? "")) })} />
      {list.error && <p role="alert" className="error">{list.error.message}</p>}
      <RecordTable caption={`${title}, sorted by ${sort.replace(/^-/, "")}${sort.startsWith("-") ? " descending" : ""}`}
        rows={rows} columns={visible} sort={sort} onSort={(s) => setParams({ sort: s })} title={source.title}
        selected={selected} onSelect={select} context={context} />
      {list.isPending && <p role="status">Loading {source.plural}…</p>}
      {!list.isPending && !list.error && rows.length === 0 && <p>No {source.plural} match.</p>}
      {list.hasNextPage && (
        <button type="button" onClick={() => void list.fetchNextPage()} disabled={list.isFetchingNextPage}>
          Load more
        </button>
      )}
    </section>
  );
}
