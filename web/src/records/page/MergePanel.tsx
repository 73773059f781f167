import { type FormEvent, useState } from "react";
import { display } from "./fieldValue";
import type { FieldSpec, MergeAdapter, Versioned } from "./types";

interface Props<R extends Versioned> {
  adapter: MergeAdapter<R>;
  record: R;
  other: R;
  compare: FieldSpec<R, unknown>[];
  onMerge: (primaryId: string, secondaryId: string) => void;
  onCancel: () => void;
  pending: boolean;
}

/** The two records side by side (the fields where they differ) and the choice of which stays:
 * the confirmation step before a merge. */
export function MergePanel<R extends Versioned>({ adapter, record, other, compare, onMerge, onCancel, pending }: Props<R>) {
  const [keep, setKeep] = useState<"this" | "other">("this");
  const differing = compare.filter((f) => display(f.read(record), f.kind) !== display(f.read(other), f.kind));
  const thisName = adapter.nameOf(record);
  const otherName = adapter.nameOf(other);
  const headingId = `merge-${other.id ?? ""}`;

  function submit(event: FormEvent) {
    event.preventDefault();
    const [primary, secondary] = keep === "this" ? [record, other] : [other, record];
    onMerge(primary.id ?? "", secondary.id ?? "");
  }

  return (
    <form className="merge-panel" aria-labelledby={headingId} onSubmit={submit}>
      <h3 id={headingId}>Merge with {otherName}</h3>
      {differing.length === 0 ? (
        <p>The two records have the same values in every field shown.</p>
      ) : (
        <div className="table-wrap">
          <table>
            <caption className="sr-only">Fields where the two records differ</caption>
            <thead>
              <tr><th scope="col">Field</th><th scope="col">This record</th><th scope="col">The other</th></tr>
            </thead>
            <tbody>
              {differing.map((f) => (
                <tr key={f.key}>
                  <th scope="row">{f.label}</th>
                  <td data-label="This record">{display(f.read(record), f.kind)}</td>
                  <td data-label="The other">{display(f.read(other), f.kind)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <fieldset>
        <legend>Which record stays?</legend>
        <label className="check">
          <input type="radio" name="keep" value="this" checked={keep === "this"} onChange={() => setKeep("this")} /> This one ({thisName})
        </label>
        <label className="check">
          <input type="radio" name="keep" value="other" checked={keep === "other"} onChange={() => setKeep("other")} /> The other ({otherName})
        </label>
      </fieldset>
      <p className="muted">
        The record that stays keeps its own values and takes the other's where its own are empty; lists such as
        emails and tags are joined, and the timeline moves over. The merge can be undone for 30 days.
      </p>
      <div className="inline">
        <button type="submit" disabled={pending}>Merge the two {adapter.noun === "company" ? "companies" : `${adapter.noun}s`}</button>
        <button type="button" className="link" onClick={onCancel}>Cancel</button>
      </div>
    </form>
  );
}
