import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { api, etag, type Schemas } from "../../api/client";
import { Field } from "../../components/Field";
import { ConfirmButton } from "../../components/ConfirmButton";
import { errorsOf, raise, summary } from "./problem";

type Settings = Schemas["PipelineSettings"];
type Source = "add" | "required" | "remove" | { rename: number };
const KEY = ["settings", "pipeline"];

/** The messages about the reasons list (`lost_reasons`, `lost_reasons.3`) as one list. */
function reasonErrors(error: unknown): string[] {
  return Object.entries(errorsOf(error)).filter(([k]) => k === "lost_reasons" || k.startsWith("lost_reasons.")).flatMap(([, m]) => m);
}

export default function LostReasons() {
  const client = useQueryClient();
  const settings = useQuery({
    queryKey: KEY,
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/settings/pipeline");
      return error ? raise(error) : data;
    },
  });
  const [notice, setNotice] = useState<string | null>(null);
  const [renaming, setRenaming] = useState<number | null>(null);
  const [saving, setSaving] = useState<boolean | null>(null);
  const save = useMutation({
    mutationFn: async ({ body }: { body: Schemas["PipelineSettingsIn"]; source: Source; done: string }) => {
      const { data, error } = await api.PATCH("/v1/settings/pipeline", {
        params: { header: { "If-Match": etag(settings.data?.version) } },
        body,
      });
      return error ? raise(error) : data;
    },
    onSuccess: (saved, { done }) => {
      client.setQueryData<Settings>(KEY, saved);
      setRenaming(null);
      setNotice(done);
    },
    onSettled: () => setSaving(null),
    onError: (e) => {
      setNotice(null);
      if (e instanceof Error && /changed since/.test(e.message)) void client.invalidateQueries({ queryKey: KEY });
    },
  });
  const reasons = settings.data?.lost_reasons ?? [];
  // The box shows the value being saved meanwhile (a refusal puts it back).
  const required = saving ?? settings.data?.lost_reason_required ?? true;
  const source = save.variables?.source;
  const failed = save.error ? source : undefined;
  const errorsFor = (s: Source) => (failed !== undefined && JSON.stringify(failed) === JSON.stringify(s) ? reasonErrors(save.error) : undefined);

  function add(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const reason = String(new FormData(form).get("reason") ?? "").trim();
    save.mutate({ body: { lost_reasons: [...reasons, reason] }, source: "add", done: `${reason} added.` }, { onSuccess: () => form.reset() });
  }

  function rename(event: FormEvent<HTMLFormElement>, index: number) {
    event.preventDefault();
    const reason = String(new FormData(event.currentTarget).get("reason") ?? "").trim();
    save.mutate({ body: { lost_reasons: reasons.map((r, i) => (i === index ? reason : r)) }, source: { rename: index },
      done: `${reasons[index] ?? ""} renamed to ${reason}.` });
  }

  if (settings.isPending) return <p role="status">Loading…</p>;
  if (settings.error) return <p role="alert" className="error">{settings.error.message}</p>;
  return (
    <section aria-labelledby="reasons-title">
      <h2 id="reasons-title">Lost reasons</h2>
      <p role="status">{notice}</p>
      <label className="check">
        <input type="checkbox" checked={required} disabled={save.isPending} onChange={(e) => {
          setSaving(e.target.checked);
          save.mutate({
          body: { lost_reason_required: e.target.checked }, source: "required",
            done: e.target.checked ? "A lost deal now needs a lost reason." : "A deal can now be lost without a reason.",
          });
        }} />
        A lost deal needs a lost reason
      </label>
      {save.error && (
        <p role="alert" className="error">
          {failed === "required" || failed === "remove" ? summary(save.error, []) : save.error.message}
        </p>
      )}
      <ul className="inbox settings-list">
        {reasons.map((reason, index) => (
          <li key={reason} data-reason={reason}>
            {renaming === index ? (
              <form className="filters grow" onSubmit={(e) => rename(e, index)} aria-label={`Rename ${reason}`}>
                <Field label={`New name for ${reason}`} name="reason" defaultValue={reason} required autoFocus
                  errors={errorsFor({ rename: index })} />
                <button type="submit" disabled={save.isPending}>Save</button>
                <button type="button" className="secondary" onClick={() => { setRenaming(null); save.reset(); }}>Cancel</button>
              </form>
            ) : (
              <>
                <span className="grow">{reason}</span>
                <button type="button" className="secondary" aria-label={`Rename ${reason}`} onClick={() => { save.reset(); setRenaming(index); }}>
                  Rename
                </button>
                <ConfirmButton label="Remove" what={reason} question={`Remove ${reason}? Deals lost for it keep it.`} busy={save.isPending}
                  onConfirm={() => save.mutate({ body: { lost_reasons: reasons.filter((_, i) => i !== index) }, source: "remove",
                    done: `${reason} removed.` })} />
              </>
            )}
          </li>
        ))}
      </ul>
      <form className="card" onSubmit={add} aria-labelledby="new-reason-title">
        <h3 id="new-reason-title">Add a lost reason</h3>
        <Field label="New lost reason" name="reason" required errors={errorsFor("add")} />
        <button type="submit" disabled={save.isPending}>Add reason</button>
      </form>
    </section>
  );
}
