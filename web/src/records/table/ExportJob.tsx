import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { api, describe } from "../../api/client";
import { token } from "../../api/session";
import type { Objects } from "./types";

export interface ExportRequest {
  /** What the export covers, in words ("3 selected contacts", "all matching contacts"). */
  label: string;
  filter: string;
  q: string;
}

/** Starts an export (POST /v1/exports) of a filter and search text; the job's id. */
export async function startExport(object: Objects, request: ExportRequest): Promise<string> {
  const { data, error } = await api.POST("/v1/exports", { body: { object, filter: request.filter || null, q: request.q || null } });
  if (error) throw new Error(describe(error));
  return data.id ?? "";
}

/** An export's progress, then its file. */
export function ExportJob({ object, jobId, label, onClose }: { object: Objects; jobId: string; label: string; onClose: () => void }) {
  const job = useQuery({
    queryKey: ["export", jobId],
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/exports/{job_id}", { params: { path: { job_id: jobId } } });
      if (error) throw new Error(describe(error));
      return data;
    },
    refetchInterval: (q) => (q.state.data && !["queued", "running"].includes(q.state.data.status ?? "") ? false : 500),
  });
  const [downloadError, setDownloadError] = useState<string | null>(null);
  const j = job.data;
  const total = j?.rows_total ?? 0;
  const done = j?.status === "completed";

  async function download() {
    setDownloadError(null);
    // The file needs the bearer token, so it is fetched, not linked.
    const resp = await fetch(`/v1/exports/${jobId}/file`, { headers: { Authorization: `Bearer ${token() ?? ""}` } });
    if (!resp.ok) {
      setDownloadError(`The file could not be fetched (${resp.status}).`);
      return;
    }
    const url = URL.createObjectURL(await resp.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = `${object}-${jobId}.csv`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 60_000); // not at once: the download may still be reading it
  }

  const error = job.error;
  return (
    <section className="card" aria-labelledby={`export-${object}`}>
      <h2 id={`export-${object}`} className="small">Export: {j?.status ?? "starting"}</h2>
      <p>Of {label}</p>
      {j && <progress max={total || 1} value={done ? total || 1 : (j.rows_processed ?? 0)} aria-label="Rows exported" />}
      <p role="status">{j ? `${j.rows_processed ?? 0} of ${j.rows_total ?? "?"} rows` : "Starting…"}</p>
      {j?.error && <p role="alert" className="error">{j.error}</p>}
      {error && <p role="alert" className="error">{error.message}</p>}
      {downloadError && <p role="alert" className="error">{downloadError}</p>}
      <div className="inline">
        {done && <button type="button" onClick={() => void download()}>Download CSV</button>}
        <button type="button" className="link" onClick={onClose}>Close</button>
      </div>
    </section>
  );
}
