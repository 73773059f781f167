// The workflow screens' calls (/v1/workflows, /v1/workflow-runs). A refusal is thrown as the
// settings' ApiError, with the answer's HTTP status, so that a form can tell a 412 or a 403 from a
// 422 whose `errors` go beside the fields.
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { api, etag, type Schemas } from "../../api/client";
import { raise } from "../settings/problem";
import type { Json, Workflow, WorkflowBody } from "./definition";

export type WorkflowCreated = Schemas["WorkflowCreated"];
export type Run = Schemas["Run"];
export type RunDetail = Schemas["RunDetail"];
export type RunStep = Schemas["RunStep"];
export type RunStatus = NonNullable<Run["status"]>;
export const RUN_STATUSES: readonly RunStatus[] = ["running", "waiting", "completed", "failed", "cancelled"];

/** A dry run's answer per record (the API's TestResult items). */
export interface TestStep {
  step_id?: string;
  type?: string;
  would?: unknown;
  matched?: boolean;
  would_wait_until?: string;
  would_wait_for?: string;
  error?: string;
}
export interface TestRecordResult {
  record_id?: string | null;
  steps?: TestStep[];
  error?: string;
}

function fail(error: unknown, response: Response): never {
  return raise({ ...(typeof error === "object" && error ? error : {}), status: response.status });
}

export function useWorkflows() {
  return useInfiniteQuery({
    queryKey: ["workflows"],
    initialPageParam: undefined as string | undefined,
    queryFn: async ({ pageParam }) => {
      const { data, error, response } = await api.GET("/v1/workflows", { params: { query: { limit: 50, sort: "name", cursor: pageParam } } });
      return error ? fail(error, response) : { data: data.data ?? [], next_cursor: data.next_cursor ?? null };
    },
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
}

export function useWorkflow(id: string | undefined) {
  return useQuery({
    queryKey: ["workflow", id],
    enabled: Boolean(id),
    queryFn: async () => {
      const { data, error, response } = await api.GET("/v1/workflows/{record_id}", { params: { path: { record_id: id ?? "" } } });
      return error ? fail(error, response) : data;
    },
  });
}

/** The saved definitions, newest first (read when asked for: `enabled`). */
export function useVersions(workflowId: string, current: number | undefined, enabled: boolean) {
  return useQuery({
    queryKey: ["workflow-versions", workflowId, current],
    enabled,
    queryFn: async () => {
      const { data, error, response } = await api.GET("/v1/workflows/{record_id}/versions", { params: { path: { record_id: workflowId } } });
      return error ? fail(error, response) : data.data ?? [];
    },
  });
}

export async function createWorkflow(body: WorkflowBody): Promise<WorkflowCreated> {
  const { data, error, response } = await api.POST("/v1/workflows", { body });
  return error ? fail(error, response) : data;
}

export async function updateWorkflow(id: string, version: number | undefined, body: WorkflowBody): Promise<Workflow> {
  const { data, error, response } = await api.PATCH("/v1/workflows/{record_id}", {
    params: { path: { record_id: id }, header: { "If-Match": etag(version) } }, body,
  });
  return error ? fail(error, response) : data;
}

export async function deleteWorkflow(workflow: Workflow): Promise<void> {
  const { error, response } = await api.DELETE("/v1/workflows/{record_id}", {
    params: { path: { record_id: workflow.id ?? "" }, header: { "If-Match": etag(workflow.version) } },
  });
  if (error) fail(error, response);
}

/** A dry run of a definition (maybe unsaved) on chosen records: what each step would do. */
export async function testWorkflow(id: string, recordIds: string[], definition: { trigger: Json; steps: Json[] }): Promise<TestRecordResult[]> {
  const { data, error, response } = await api.POST("/v1/workflows/{record_id}/test", {
    params: { path: { record_id: id } }, body: { record_ids: recordIds, definition },
  });
  return error ? fail(error, response) : (data.results ?? []) as TestRecordResult[];
}

export async function startRuns(id: string, recordIds: string[]): Promise<Run[]> {
  const { data, error, response } = await api.POST("/v1/workflows/{record_id}/runs", {
    params: { path: { record_id: id } }, body: { record_ids: recordIds },
  });
  return error ? fail(error, response) : data.data ?? [];
}

export function useRuns(workflowId: string, status: RunStatus | "") {
  return useInfiniteQuery({
    queryKey: ["workflow-runs", workflowId, status],
    initialPageParam: undefined as string | undefined,
    queryFn: async ({ pageParam }) => {
      const { data, error, response } = await api.GET("/v1/workflows/{record_id}/runs", {
        params: { path: { record_id: workflowId }, query: { limit: 25, cursor: pageParam, ...(status ? { status } : {}) } },
      });
      return error ? fail(error, response) : { data: data.data ?? [], next_cursor: data.next_cursor ?? null };
    },
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    // Runs move by themselves (the worker): poll, faster while one is under way.
    refetchInterval: (query) =>
      query.state.data?.pages.some((p) => p.data.some((r) => r.status === "running" || r.status === "waiting")) ? 2000 : 5000,
  });
}

export function useRun(runId: string) {
  return useQuery({
    queryKey: ["workflow-run", runId],
    queryFn: async () => {
      const { data, error, response } = await api.GET("/v1/workflow-runs/{run_id}", { params: { path: { run_id: runId } } });
      return error ? fail(error, response) : data;
    },
    refetchInterval: (query) => (query.state.data?.status === "running" || query.state.data?.status === "waiting" ? 2000 : false),
  });
}

export async function retryRun(runId: string): Promise<RunDetail> {
  const { data, error, response } = await api.POST("/v1/workflow-runs/{run_id}/retry", { params: { path: { run_id: runId } } });
  return error ? fail(error, response) : data;
}

export async function cancelRun(runId: string): Promise<RunDetail> {
  const { data, error, response } = await api.POST("/v1/workflow-runs/{run_id}/cancel", { params: { path: { run_id: runId } } });
  return error ? fail(error, response) : data;
}
