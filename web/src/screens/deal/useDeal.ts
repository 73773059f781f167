import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, type Deal, describe, etag, type Problem, type Schemas } from "../../api/client";

export type DealPatch = Schemas["DealIn"];

export class Refused extends Error {
  constructor(message: string, readonly status: number, readonly problem: Problem) {
    super(message);
  }
}

export function useDeal(id: string) {
  return useQuery({
    queryKey: ["deal", id],
    queryFn: async () => {
      const { data, error, response } = await api.GET("/v1/deals/{record_id}", { params: { path: { record_id: id } } });
      if (error) throw new Error(response.status === 404 ? "There is no such deal." : describe(error));
      return data;
    },
  });
}

export function usePipeline(id: string | undefined) {
  return useQuery({
    queryKey: ["pipeline", id],
    enabled: Boolean(id),
    staleTime: 60_000,
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/pipelines/{record_id}", { params: { path: { record_id: id ?? "" } } });
      if (error) throw new Error(describe(error));
      return data;
    },
  });
}

export function useDealProperties() {
  return useQuery({
    queryKey: ["properties", "deals"],
    staleTime: 300_000,
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/properties/deals");
      if (error) throw new Error(describe(error));
      return (data.data ?? []).filter((p) => !p.archived_at);
    },
  });
}

/** What a deal's change touches besides the deal: its history, the board, the forecast. */
export function invalidateAround(client: ReturnType<typeof useQueryClient>, dealId: string) {
  void client.invalidateQueries({ queryKey: ["deal-history", dealId] });
  void client.invalidateQueries({ queryKey: ["board"] });
  void client.invalidateQueries({ queryKey: ["forecast"] });
}

/** A change of the deal guarded by If-Match: someone else's change first is a 412 with a clear
 * message (and the page then shows their version), never a silent overwrite. */
export function useSaveDeal(deal: Deal) {
  const client = useQueryClient();
  const id = deal.id ?? "";
  return useMutation({
    mutationFn: async (body: DealPatch) => {
      const { data, error, response } = await api.PATCH("/v1/deals/{record_id}", {
        params: { path: { record_id: id }, header: { "If-Match": etag(deal.version) } },
        body,
      });
      if (response.status === 412) {
        throw new Refused("Someone else changed this deal first. The page now shows their version; make your change again.",
          412, (error ?? {}) as Problem);
      }
      if (error) throw new Refused(describe(error), response.status, error as Problem);
      return data;
    },
    onSuccess: (data) => {
      client.setQueryData(["deal", id], data);
      invalidateAround(client, id);
    },
    onError: (e) => {
      if (e instanceof Refused && e.status === 412) void client.invalidateQueries({ queryKey: ["deal", id] });
    },
  });
}
