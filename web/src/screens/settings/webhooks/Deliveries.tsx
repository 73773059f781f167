import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Fragment, useState } from "react";
import { Link, useParams } from "react-router-dom";
import { api } from "../../../api/client";
import { raise } from "../problem";
import { DeliveryDetails } from "./DeliveryDetails";
import { canRetry, stillDelivering } from "./events";

type Status = "pending" | "succeeded" | "failed";

/** The delivery log of one webhook, newest first; polled while a delivery is pending. */
export function Deliveries() {
  const { id = "" } = useParams();
  const client = useQueryClient();
  const [status, setStatus] = useState<Status | "">("");
  const [open, setOpen] = useState<string | null>(null);
  const hook = useQuery({
    queryKey: ["webhooks", id],
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/webhooks/{record_id}", { params: { path: { record_id: id } } });
      if (error) raise(error);
      return data;
    },
  });
  const log = useQuery({
    queryKey: ["webhook-deliveries", id, status],
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/webhooks/{record_id}/deliveries", {
        params: { path: { record_id: id }, query: { limit: 50, ...(status ? { status } : {}) } } });
      if (error) raise(error);
      return data.data ?? [];
    },
    staleTime: 0, // the worker changes it: always fresh when the page opens
    refetchInterval: (query) => (stillDelivering(query.state.data ?? []) ? 1500 : false),
  });
  const retry = useMutation({
    mutationFn: async (deliveryId: string) => {
      const { error } = await api.POST("/v1/webhooks/{record_id}/deliveries/{delivery_id}/retry", {
        params: { path: { record_id: id, delivery_id: deliveryId } } });
      if (error) raise(error);
    },
    onSettled: () => void client.invalidateQueries({ queryKey: ["webhook-deliveries", id] }),
  });
  const url = hook.data?.url ?? "";
  return (
    <section aria-labelledby="deliveries-title">
      <p><Link to="..">All webhooks</Link></p>
      <h3 id="deliveries-title">Deliveries to <span className="break">{url}</span></h3>
      {(hook.error ?? log.error) && <p role="alert" className="error">{(hook.error ?? log.error)?.message}</p>}
      {retry.error && <p role="alert" className="error">{retry.error.message}</p>}
      <label htmlFor="delivery-status">Show</label>{" "}
      <select id="delivery-status" value={status} onChange={(e) => setStatus(e.target.value as Status | "")}>
        <option value="">every delivery</option>
        <option value="pending">pending</option>
        <option value="succeeded">succeeded</option>
        <option value="failed">failed</option>
      </select>
      {log.data?.length === 0 && <p className="muted">No deliveries yet. Send a test from the list of webhooks.</p>}
      {(log.data?.length ?? 0) > 0 && (
        <div className="table-wrap">
          <table>
            <caption className="sr-only">Deliveries</caption>
            <thead><tr><th scope="col">Time</th><th scope="col">Event</th><th scope="col">Status</th><th scope="col">Attempts</th>
              <th scope="col">Response</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {(log.data ?? []).map((d) => (
                <Fragment key={d.id}>
                  <tr data-delivery={d.id} data-event={d.event_type}>
                    <td data-label="Time">{d.created_at ? new Date(d.created_at).toLocaleString() : ""}</td>
                    <td data-label="Event">{d.event_type}</td>
                    <td data-label="Status" data-testid="delivery-status">
                      <span className={d.status === "failed" ? "badge danger" : d.status === "pending" ? "badge warning" : "badge"}>{d.status}</span>
                    </td>
                    <td data-label="Attempts">{d.attempt_count}</td>
                    <td data-label="Response" data-testid="delivery-code">{d.last_status_code ?? (d.last_error ? "error" : "–")}</td>
                    <td data-label="Actions" className="inline">
                      <button type="button" className="secondary" aria-expanded={open === d.id}
                        aria-label={`Details of the ${d.event_type ?? ""} delivery`}
                        onClick={() => setOpen(open === d.id ? null : d.id ?? null)}>Details</button>
                      {canRetry(d) && <button type="button" aria-label={`Retry the ${d.event_type ?? ""} delivery`}
                        disabled={retry.isPending} onClick={() => retry.mutate(d.id ?? "")}>Retry</button>}
                    </td>
                  </tr>
                  {open === d.id && (
                    <tr><td colSpan={6}><DeliveryDetails webhookId={id} deliveryId={d.id ?? ""} url={url} /></td></tr>
                  )}
                </Fragment>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
