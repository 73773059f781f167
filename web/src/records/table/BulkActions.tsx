import { useMutation, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import type { BatchItemResult, RecordRow, RecordSource } from "./types";
import type { UserChoice } from "./useUsers";

const CHUNK = 100; // the batch endpoints take up to 100 items

interface Props<R extends RecordRow> {
  source: RecordSource<R>;
  rows: R[]; // the selected rows, as loaded
  users: UserChoice[];
  onDone: () => void;
  onExport: () => void;
}

type Action = { kind: "tag"; tag: string } | { kind: "owner"; ownerId: string | null } | { kind: "delete" };

/** One sentence for the outcome of a batch: how many went through, and why the others did not. */
export function summarise(results: BatchItemResult[], done: string, singular: string, plural: string): string {
  const ok = results.filter((r) => (r.status ?? 500) < 300).length;
  const what = ok === 1 ? singular : plural;
  const failed = results.filter((r) => (r.status ?? 500) >= 300);
  if (failed.length === 0) return `${done} ${ok} ${what}.`;
  const stale = failed.filter((r) => r.status === 412).length;
  const reasons = [...new Set(failed.filter((r) => r.status !== 412)
    .flatMap((r) => Object.entries(r.errors ?? {}).map(([k, v]) => (k === "_body" ? v.join(" ") : `${k}: ${v.join(" ")}`))))];
  const why = [stale ? `${stale} changed since the page loaded (reload and try again)` : "", ...reasons].filter(Boolean).join("; ");
  return `${done} ${ok} ${what}; ${failed.length} not${why ? `: ${why}` : ""}.`;
}

/** Actions on the selected rows through POST /v1/{contacts|companies}/batch: add a tag, assign an
 * owner, delete (after a confirmation); each item carries the version it was read at. */
export function BulkActions<R extends RecordRow>({ source, rows, users, onDone, onExport }: Props<R>) {
  const client = useQueryClient();
  const [confirming, setConfirming] = useState(false);
  const [outcome, setOutcome] = useState<string | null>(null);
  const n = rows.length;
  const what = n === 1 ? source.singular : source.plural;

  const run = useMutation({
    mutationFn: async (action: Action) => {
      const items: Record<string, unknown>[] = [];
      for (const row of rows) {
        const base = { id: row.id, version: row.version };
        if (action.kind === "tag") {
          const tags = row.tags ?? [];
          if (!tags.includes(action.tag)) items.push({ ...base, tags: [...tags, action.tag] });
        } else if (action.kind === "owner") {
          items.push({ ...base, owner_id: action.ownerId });
        } else {
          items.push(base);
        }
      }
      const results: BatchItemResult[] = [];
      for (let i = 0; i < items.length; i += CHUNK) {
        results.push(...(await source.batch(action.kind === "delete" ? "delete" : "update", items.slice(i, i + CHUNK))));
      }
      const done = action.kind === "tag" ? `Tagged "${action.tag}":` : action.kind === "owner" ? "Assigned:" : "Deleted";
      const skipped = rows.length - items.length;
      return summarise(results, done, source.singular, source.plural) + (skipped ? ` ${skipped} already had the tag.` : "");
    },
    onSuccess: (text) => {
      setOutcome(text);
      setConfirming(false);
      void client.invalidateQueries({ queryKey: [source.object] });
      onDone();
    },
    onError: (e) => setOutcome(e.message),
  });

  function tag(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const value = String(new FormData(form).get("tag") ?? "").trim();
    if (value) run.mutate({ kind: "tag", tag: value }, { onSuccess: () => form.reset() });
  }

  function assign(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const value = String(new FormData(event.currentTarget).get("owner") ?? "");
    run.mutate({ kind: "owner", ownerId: value === "none" ? null : value });
  }

  const id = `bulk-${source.object}`;
  return (
    <section className="bulk" aria-labelledby={`${id}-title`}>
      {/* Not a heading: the screen's own heading is the only one naming the records. */}
      <p id={`${id}-title`} className="bulk-title">{n > 0 ? `${n} ${what} selected` : `Select ${source.plural} to act on them`}</p>
      {n > 0 && (
        <div className="bulk-actions">
          <form className="inline" onSubmit={tag}>
            <label htmlFor={`${id}-tag`} className="sr-only">Tag to add</label>
            <input id={`${id}-tag`} name="tag" placeholder="Tag" maxLength={100} required />
            <button type="submit" disabled={run.isPending}>Add tag</button>
          </form>
          <form className="inline" onSubmit={assign}>
            <label htmlFor={`${id}-owner`} className="sr-only">Owner to assign</label>
            <select id={`${id}-owner`} name="owner" defaultValue={users[0]?.id ?? "none"}>
              {users.map((u) => <option key={u.id} value={u.id}>{u.name}</option>)}
              <option value="none">No owner</option>
            </select>
            <button type="submit" disabled={run.isPending}>Assign owner</button>
          </form>
          <button type="button" className="secondary" onClick={onExport}>Export selected</button>
          <button type="button" className="danger" onClick={() => setConfirming(true)} disabled={run.isPending}>Delete selected</button>
        </div>
      )}
      {confirming && n > 0 && (
        <div className="confirm" role="alertdialog" aria-labelledby={`${id}-confirm`} aria-modal="false">
          <p id={`${id}-confirm`}>Delete {n} {what}? This cannot be undone.</p>
          <button type="button" className="danger" autoFocus onClick={() => run.mutate({ kind: "delete" })} disabled={run.isPending}>
            Yes, delete {n} {what}
          </button>
          <button type="button" className="link" onClick={() => setConfirming(false)}>Keep them</button>
        </div>
      )}
      {outcome && <p role="status">{outcome}</p>}
    </section>
  );
}
