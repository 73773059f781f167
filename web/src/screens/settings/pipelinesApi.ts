// The pipelines page's calls; the list shares its cache with the board (same query key).
import { useQuery } from "@tanstack/react-query";
import { api, etag, type Pipeline, type Schemas } from "../../api/client";
import { raise } from "./problem";

export type PipelineIn = Schemas["PipelineIn"];

export function usePipelines() {
  return useQuery({
    queryKey: ["pipelines"],
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/pipelines", { params: { query: { limit: 100 } } });
      return error ? raise(error) : data.data ?? [];
    },
  });
}

export async function createPipeline(body: Schemas["PipelineCreate"]): Promise<Pipeline> {
  const { data, error } = await api.POST("/v1/pipelines", { body });
  return error ? raise(error) : data;
}

export async function updatePipeline(pipeline: Pipeline, body: PipelineIn): Promise<Pipeline> {
  const { data, error } = await api.PATCH("/v1/pipelines/{record_id}", {
    params: { path: { record_id: pipeline.id ?? "" }, header: { "If-Match": etag(pipeline.version) } },
    body,
  });
  return error ? raise(error) : data;
}

export async function deletePipeline(pipeline: Pipeline): Promise<void> {
  const { error } = await api.DELETE("/v1/pipelines/{record_id}", {
    params: { path: { record_id: pipeline.id ?? "" } },
    headers: { "If-Match": etag(pipeline.version) },
  });
  if (error) raise(error);
}

/** Removes a stage; one that holds deals needs `moveTo` (a stage of the same kind) for them. */
export async function deleteStage(pipeline: Pipeline, stageId: string, moveTo?: string): Promise<Pipeline> {
  const { data, error } = await api.DELETE("/v1/pipelines/{pipeline_id}/stages/{stage_id}", {
    params: {
      path: { pipeline_id: pipeline.id ?? "", stage_id: stageId },
      query: moveTo ? { move_to: moveTo } : {},
      header: { "If-Match": etag(pipeline.version) },
    },
  });
  return error ? raise(error) : data;
}
