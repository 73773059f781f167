import { useQuery } from "@tanstack/react-query";
import { type ChangeEvent, type FormEvent, useState } from "react";
import { api, describe, type Schemas } from "../api/client";
import { token } from "../api/session";
import { CONTACT_FIELDS, headerOf, suggestField } from "./mapping";

type Job = Schemas["ImportJob"];

async function upload(file: File, mapping: Record<string, string | null>, dryRun: boolean, onDuplicate: string): Promise<Job> {
  // Multipart: sent with fetch directly (the typed client speaks JSON), to the same public endpoint.
  const form = new FormData();
  form.set("object", "contacts");
  form.set("mapping", JSON.stringify(mapping));
  form.set("dry_run", String(dryRun));
  form.set("on_duplicate", onDuplicate);
  form.set("file", file);
  const resp = await fetch("/v1/imports", { method: "POST", body: form, headers: { Authorization: `Bearer ${token() ?? ""}` } });
  const body = (await resp.json()) as Job;
  if (!resp.ok) throw new Error(describe(body));
  return body;
}

export default function Import() {
  const [file, setFile] = useState<File | null>(null);
  const [mapping, setMapping] = useState<Record<string, string | null>>({});
  const [jobId, setJobId] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function choose(event: ChangeEvent<HTMLInputElement>) {
    const chosen = event.target.files?.[0] ?? null;
    setFile(chosen);
    setJobId(null);
    if (!chosen) return;
    const first = (await chosen.slice(0, 64 * 1024).text()).split("\n")[0] ?? "";
    setMapping(Object.fromEntries(headerOf(first).filter(Boolean).map((h) => [h, suggestField(h)])));
  }

  async function start(form: HTMLFormElement, dryRun: boolean) {
    if (!file) return;
    const onDuplicate = String(new FormData(form).get("on_duplicate") ?? "skip");
    setBusy(true);
    setError(null);
    try {
      setJobId((await upload(file, mapping, dryRun, onDuplicate)).id ?? null);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="import-title">
      <h1 id="import-title">Import contacts</h1>
      <form className="card" onSubmit={(e: FormEvent<HTMLFormElement>) => { e.preventDefault(); void start(e.currentTarget, false); }}
        aria-label="Import a CSV file">
        <label htmlFor="import-file">CSV file (UTF-8; comma, semicolon or tab separated; first row names the columns)</label>
        <input id="import-file" type="file" accept=".csv,text/csv" onChange={(e) => void choose(e)} />
        {Object.keys(mapping).length > 0 && (
          <fieldset>
            <legend>Columns</legend>
            {Object.entries(mapping).map(([column, field], i) => (
              <div key={column} className="mapping">
                <label htmlFor={`map-${i}`}>{column}</label>
                <select id={`map-${i}`} value={field ?? ""} onChange={(e) => setMapping({ ...mapping, [column]: e.target.value || null })}>
                  <option value="">Leave out</option>
                  {CONTACT_FIELDS.map((f) => (
                    <option key={f} value={f}>{f}</option>
                  ))}
                </select>
              </div>
            ))}
          </fieldset>
        )}
        <label htmlFor="import-duplicates">Contacts whose email exists already</label>
        <select id="import-duplicates" name="on_duplicate" defaultValue="skip">
          <option value="skip">Skip them</option>
          <option value="update">Update them</option>
          <option value="create">Create another</option>
        </select>
        {error && <p role="alert" className="error">{error}</p>}
        <div className="inline">
          <button type="button" className="secondary" disabled={!file || busy}
            onClick={(e) => { if (e.currentTarget.form) void start(e.currentTarget.form, true); }}>
            Dry run
          </button>
          <button type="submit" disabled={!file || busy}>Import</button>
        </div>
      </form>
      {jobId && <Progress jobId={jobId} />}
    </section>
  );
}

function Progress({ jobId }: { jobId: string }) {
  const job = useQuery({
    queryKey: ["import", jobId],
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/imports/{job_id}", { params: { path: { job_id: jobId } } });
      if (error) throw new Error(describe(error));
      return data;
    },
    refetchInterval: (q) => (q.state.data && !["queued", "running"].includes(q.state.data.status ?? "") ? false : 500),
  });
  const j = job.data;
  if (!j) return <p role="status">Starting…</p>;
  const total = j.rows_total ?? 0;
  const running = j.status === "queued" || j.status === "running";
  return (
    <section className="card" aria-labelledby="import-progress">
      <h2 id="import-progress">{j.dry_run ? "Dry run" : "Import"} {j.status}</h2>
      <progress max={total || 1} value={j.rows_processed ?? 0} aria-label="Rows processed" />
      <p role="status">
        {j.rows_processed ?? 0} of {total || "?"} rows
        {!running && ` · ${j.created ?? 0} created, ${j.updated ?? 0} updated, ${j.skipped ?? 0} skipped, ${j.failed ?? 0} failed`}
      </p>
      {j.error && <p role="alert" className="error">{j.error}</p>}
      {!running && (j.failed ?? 0) > 0 && <ErrorsLink jobId={jobId} />}
    </section>
  );
}

function ErrorsLink({ jobId }: { jobId: string }) {
  async function download() {
    const resp = await fetch(`/v1/imports/${jobId}/errors`, { headers: { Authorization: `Bearer ${token() ?? ""}` } });
    const url = URL.createObjectURL(await resp.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = `import-${jobId}-errors.csv`;
    a.click();
    URL.revokeObjectURL(url);
  }
  return <button type="button" onClick={() => void download()}>Download the failed rows</button>;
}
