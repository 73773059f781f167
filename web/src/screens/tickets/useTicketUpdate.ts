import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api, describe, etag, type Schemas } from "../../api/client";

export type TicketChanges = Schemas["TicketIn"];

/** PATCH the ticket guarded by its version; a lost race (412) says so and shows theirs. */
export function useTicketUpdate(id: string, version: number | undefined) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (body: TicketChanges) => {
      const { error, response } = await api.PATCH("/v1/tickets/{record_id}", {
        params: { path: { record_id: id }, header: { "If-Match": etag(version) } },
        body,
      });
      if (response.status === 412) throw new Error("Someone else changed this ticket first; it now shows their version.");
      if (error) throw new Error(describe(error));
    },
    onSettled: () => {
      void client.invalidateQueries({ queryKey: ["ticket", id] });
      void client.invalidateQueries({ queryKey: ["ticket-sla", id] });
    },
  });
}
