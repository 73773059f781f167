import type { Column, RecordRow, RenderContext } from "./types";

interface Props<R extends RecordRow> {
  caption: string;
  rows: R[];
  columns: Column<R>[];
  sort: string;
  onSort: (sort: string) => void;
  title: (row: R) => string;
  selected: ReadonlySet<string>;
  onSelect: (ids: string[], selected: boolean) => void;
  context: RenderContext;
}

/** The shared record table: one column per configured field, sortable headers, a checkbox per row
 * and one for the whole page. On a phone each row becomes a card (styles.css, data-label). */
export function RecordTable<R extends RecordRow>({ caption, rows, columns, sort, onSort, title, selected, onSelect, context }: Props<R>) {
  const field = sort.replace(/^-/, "");
  const descending = sort.startsWith("-");
  const ids = rows.map((r) => r.id ?? "").filter(Boolean);
  const all = ids.length > 0 && ids.every((id) => selected.has(id));
  const some = !all && ids.some((id) => selected.has(id));
  return (
    <div className="table-wrap">
      <table className="records">
        <caption className="sr-only">{caption}</caption>
        <thead>
          <tr>
            <th scope="col" className="select">
              <input
                type="checkbox"
                aria-label="Select all on this page"
                checked={all}
                ref={(el) => {
                  if (el) el.indeterminate = some;
                }}
                onChange={(e) => onSelect(ids, e.currentTarget.checked)}
                disabled={ids.length === 0}
              />
            </th>
            {columns.map((c) => (
              <th key={c.key} scope="col" aria-sort={c.sort && c.sort === field ? (descending ? "descending" : "ascending") : undefined}>
                {c.sort ? (
                  <button type="button" className="link" onClick={() => onSort(field === c.sort && !descending ? `-${c.sort}` : c.sort ?? "")}>
                    {c.label}
                    <span aria-hidden="true">{c.sort === field ? (descending ? " ↓" : " ↑") : ""}</span>
                  </button>
                ) : (
                  c.label
                )}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => {
            const id = row.id ?? "";
            return (
              <tr key={id} data-id={id} className={selected.has(id) ? "selected" : undefined}>
                <td className="select">
                  <input type="checkbox" aria-label={`Select ${title(row)}`} checked={selected.has(id)}
                    onChange={(e) => onSelect([id], e.currentTarget.checked)} />
                </td>
                {columns.map((c) => (
                  <td key={c.key} data-label={c.label}>{c.render(row, context)}</td>
                ))}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
