import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api, describe, etag, type Schemas, type Ticket } from "../../api/client";

export type TicketChanges = Schemas["TicketIn"];

/** PATCH the ticket guarded by its version; a lost race (412) says so and shows theirs. Changes
 * run one after another (one scope per ticket), each with the version the previous answer
 * carried, so quick successive edits never trip over each other. */
export function useTicketUpdate(id: string) {
  const client = useQueryClient();
  return useMutation({
    scope: { id: `ticket-${id}` },
    mutationFn: async (body: TicketChanges) => {
      const version = client.getQueryData<Ticket>(["ticket", id])?.version;
      const { data, error, response } = await api.PATCH("/v1/tickets/{record_id}", {
        params: { path: { record_id: id }, header: { "If-Match": etag(version) } },
        body,
      });
      if (response.status === 412) throw new Error("Someone else changed this ticket first; it now shows their version.");
      if (error || !data) throw new Error(describe(error));
      return data;
    },
    onSuccess: (ticket) => client.setQueryData(["ticket", id], ticket),
    onSettled: () => {
      void client.invalidateQueries({ queryKey: ["ticket", id] });
      void client.invalidateQueries({ queryKey: ["ticket-sla", id] });
    },
  });
}
