import { useQuery } from "@tanstack/react-query";
import { api, type Schemas } from "../../../api/client";
import { raise } from "../problem";

export type Recompute = Schemas["SlaRecompute"];

/** The header a calendar or policy write answers with when it queued a recompute job. */
export const RECOMPUTE_HEADER = "Sla-Recompute-Id";

export function jobOf(response: Response): string | null {
  return response.headers.get(RECOMPUTE_HEADER);
}

export function finished(job: Recompute | undefined): boolean {
  return job?.status === "completed" || job?.status === "failed";
}

/** Whole percent done; a job with nothing to do yet is at 0 until it completes. */
export function percent(job: Recompute): number {
  const total = job.tickets_total ?? 0;
  if (job.status === "completed") return 100;
  if (total <= 0) return 0;
  return Math.min(100, Math.floor(((job.tickets_done ?? 0) * 100) / total));
}

/** One job, polled each second until it completed or failed. */
export function useRecompute(id: string) {
  return useQuery({
    queryKey: ["sla-recomputes", id],
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/sla-recomputes/{record_id}", { params: { path: { record_id: id } } });
      if (error) raise(error);
      return data;
    },
    refetchInterval: (query) => (finished(query.state.data) ? false : 1000),
  });
}

/** The latest jobs, newest first; polled while one of them is unfinished. */
export function useRecentRecomputes() {
  return useQuery({
    queryKey: ["sla-recomputes"],
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/sla-recomputes", { params: { query: { limit: 10, sort: "-created_at" } } });
      if (error) raise(error);
      return data.data ?? [];
    },
    refetchInterval: (query) => ((query.state.data ?? []).some((j) => !finished(j)) ? 2000 : false),
  });
}
