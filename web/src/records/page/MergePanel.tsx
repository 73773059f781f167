import { type FormEvent, useState } from "react";
import { differingRows, keepFromSecondary, type MergeRow, type Side, sideOf } from "./mergeChoice";
import type { FieldSpec, MergeAdapter, Versioned } from "./types";

interface Props<R extends Versioned> {
  adapter: MergeAdapter<R>;
  record: R;
  other: R;
  compare: FieldSpec<R, unknown>[];
  onMerge: (primaryId: string, secondaryId: string, keepFromSecondary: string[]) => void;
  onCancel: () => void;
  pending: boolean;
}

/** The confirmation step before a merge: the two records side by side where they differ, which
 * record stays, and per field which value it keeps. */
export function MergePanel<R extends Versioned>({ adapter, record, other, compare, onMerge, onCancel, pending }: Props<R>) {
  const [keep, setKeep] = useState<Side>("this");
  const [picks, setPicks] = useState<Partial<Record<string, Side>>>({});
  const rows = differingRows(compare, record, other);
  const thisName = adapter.nameOf(record);
  const otherName = adapter.nameOf(other);
  const headingId = `merge-${other.id ?? ""}`;
  const plural = adapter.noun === "company" ? "companies" : `${adapter.noun}s`;

  function submit(event: FormEvent) {
    event.preventDefault();
    const [primary, secondary] = keep === "this" ? [record, other] : [other, record];
    onMerge(primary.id ?? "", secondary.id ?? "", keepFromSecondary(rows, picks, keep));
  }

  return (
    <form className="merge-panel" aria-labelledby={headingId} onSubmit={submit}>
      <h3 id={headingId}>Merge with {otherName}</h3>
      <fieldset>
        <legend>Which record stays?</legend>
        <label className="check">
          <input type="radio" name="keep" value="this" checked={keep === "this"} onChange={() => setKeep("this")} /> This one ({thisName})
        </label>
        <label className="check">
          <input type="radio" name="keep" value="other" checked={keep === "other"} onChange={() => setKeep("other")} /> The other ({otherName})
        </label>
      </fieldset>
      {rows.length === 0 ? (
        <p>The two records have the same values in every field shown.</p>
      ) : (
        <div className="table-wrap">
          <table>
            <caption>Where they differ, choose the value to keep</caption>
            <thead>
              <tr><th scope="col">Field</th><th scope="col">This record</th><th scope="col">The other</th></tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={row.key}>
                  <th scope="row">{row.label}</th>
                  <ValueCell row={row} side="this" picks={picks} keep={keep} pick={(s) => setPicks({ ...picks, [row.key]: s })} />
                  <ValueCell row={row} side="other" picks={picks} keep={keep} pick={(s) => setPicks({ ...picks, [row.key]: s })} />
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p className="muted">
        Lists such as emails and tags are joined, an empty field takes the other's value, and the timeline moves over.
        The merge can be undone for 30 days.
      </p>
      <div className="inline">
        <button type="submit" disabled={pending}>Merge the two {plural}</button>
        <button type="button" className="link" onClick={onCancel}>Cancel</button>
      </div>
    </form>
  );
}

interface CellProps {
  row: MergeRow;
  side: Side;
  picks: Partial<Record<string, Side>>;
  keep: Side;
  pick: (side: Side) => void;
}

function ValueCell({ row, side, picks, keep, pick }: CellProps) {
  const value = side === "this" ? row.mine : row.theirs;
  const label = side === "this" ? "This record" : "The other";
  const kept = sideOf(row, picks, keep) === side;
  if (!row.choosable) {
    return <td data-label={label} className={kept ? "kept" : undefined}>{value}{kept && <span className="sr-only"> (kept)</span>}</td>;
  }
  return (
    <td data-label={label} className={kept ? "kept" : undefined}>
      <label className="check">
        <input type="radio" name={`pick-${row.key}`} value={side} checked={kept} onChange={() => pick(side)} />
        <span className="sr-only">Keep {row.label}:</span> {value}
      </label>
    </td>
  );
}
