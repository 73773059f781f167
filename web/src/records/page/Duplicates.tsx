import { type QueryKey, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useNavigate } from "react-router-dom";
import { MergePanel } from "./MergePanel";
import { RecordSection } from "./RecordPage";
import type { FieldSpec, MergeAdapter, Versioned } from "./types";

interface Props<R extends Versioned & { merged_ids?: string[] }> {
  adapter: MergeAdapter<R>;
  record: R;
  /** The query the page shows the record from (its URL's id). */
  queryKey: QueryKey;
  compare: FieldSpec<R, unknown>[];
}

const REASONS: Record<string, string> = {
  same_email: "same email", same_phone: "same phone", same_email_domain_similar_name: "similar name, same email domain",
  similar_name_same_company: "similar name, same company", similar_name: "similar name", same_domain_name: "same domain",
};

/** Likely duplicates of the record, a merge with one of them (after comparing and choosing which
 * stays), and the undo of earlier merges into it. */
export function Duplicates<R extends Versioned & { merged_ids?: string[] }>({ adapter, record, queryKey, compare }: Props<R>) {
  const client = useQueryClient();
  const navigate = useNavigate();
  const id = record.id ?? "";
  const [open, setOpen] = useState<string | null>(null);
  const [said, setSaid] = useState<string | null>(null);
  const [restored, setRestored] = useState<R | null>(null);
  const dupKey = ["duplicates", adapter.noun, id];
  const duplicates = useQuery({ queryKey: dupKey, queryFn: () => adapter.duplicates(id) });
  // A merge changes the record, its duplicates, its timeline and the lists it is in (a company's contacts).
  const refresh = () => Promise.all([["duplicates"], queryKey, ["activities"], ["contacts"], ["companies"]]
    .map((k) => client.invalidateQueries({ queryKey: k })));
  const merge = useMutation({
    mutationFn: ({ primary, secondary, keep }: { primary: string; secondary: string; keep: string[] }) => adapter.merge(primary, secondary, keep),
    onSuccess: async (survivor) => {
      setOpen(null);
      setRestored(null);
      setSaid(`Merged. ${adapter.nameOf(survivor)} is the record that stays.`);
      if (survivor.id && survivor.id !== id) navigate(adapter.linkOf(survivor.id));
      await refresh();
    },
  });
  const unmerge = useMutation({
    mutationFn: (mergedId: string) => adapter.unmerge(id, mergedId),
    onSuccess: async (back) => {
      setSaid("The merge was undone: both records exist again.");
      setRestored(back);
      await refresh();
    },
  });

  const merged = record.merged_ids ?? [];
  return (
    <RecordSection id="duplicates" title="Duplicates">
      {said && (
        <p role="status">
          {said} {restored?.id && <Link to={adapter.linkOf(restored.id)}>Open {adapter.nameOf(restored)}</Link>}
        </p>
      )}
      {(merge.error ?? unmerge.error) && <p role="alert" className="error">{(merge.error ?? unmerge.error)?.message}</p>}
      {duplicates.error && <p role="alert" className="error">{duplicates.error.message}</p>}
      {duplicates.data?.length === 0 && <p className="muted">No likely duplicates.</p>}
      <ul className="duplicates">
        {(duplicates.data ?? []).map(({ record: other, score, reasons }) => {
          const name = adapter.nameOf(other);
          return (
            <li key={other.id}>
              <div className="inline">
                <Link to={adapter.linkOf(other.id ?? "")} className="grow">{name}</Link>
                <span className="badge">{Math.round(score * 100)}% likely</span>
                <button type="button" className="secondary" aria-expanded={open === other.id}
                  onClick={() => setOpen(open === other.id ? null : (other.id ?? null))}>
                  Compare and merge<span className="sr-only"> with {name}</span>
                </button>
              </div>
              <p className="muted">{reasons.map((r) => REASONS[r] ?? r.replaceAll("_", " ")).join("; ")}</p>
              {open === other.id && (
                <MergePanel adapter={adapter} record={record} other={other} compare={compare} pending={merge.isPending}
                  onCancel={() => setOpen(null)} onMerge={(primary, secondary, keep) => merge.mutate({ primary, secondary, keep })} />
              )}
            </li>
          );
        })}
      </ul>
      {merged.length > 0 && (
        <>
          <h3>Merged into this record</h3>
          <ul className="duplicates">
            {merged.map((m) => (
              <li key={m} className="inline">
                <span className="grow">Record <code>{m}</code></span>
                <button type="button" className="secondary" disabled={unmerge.isPending} onClick={() => unmerge.mutate(m)}>
                  Undo merge<span className="sr-only"> of record {m}</span>
                </button>
              </li>
            ))}
          </ul>
        </>
      )}
    </RecordSection>
  );
}
