import { useQuery } from "@tanstack/react-query";
import { api } from "../../../api/client";
import { raise } from "../problem";

function when(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : "";
}

/** One delivery: the request body sent, and each attempt with its answer. */
export function DeliveryDetails({ webhookId, deliveryId, url }: { webhookId: string; deliveryId: string; url: string }) {
  const delivery = useQuery({
    queryKey: ["webhook-deliveries", webhookId, deliveryId],
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/webhooks/{record_id}/deliveries/{delivery_id}", {
        params: { path: { record_id: webhookId, delivery_id: deliveryId } } });
      if (error) raise(error);
      return data;
    },
    refetchInterval: (query) => (query.state.data?.status === "pending" ? 2000 : false),
  });
  const d = delivery.data;
  return (
    <div className="details" role="region" aria-label={`Delivery ${deliveryId}`}>
      {delivery.error && <p role="alert" className="error">{delivery.error.message}</p>}
      {d && (
        <>
          <h4>Request</h4>
          <p className="muted">POST {url} · event {d.event_type} ({d.event_id}){d.next_attempt_at ? ` · next attempt ${when(d.next_attempt_at)}` : ""}</p>
          <pre className="payload" tabIndex={0} aria-label="Request body">{JSON.stringify(d.payload, null, 2)}</pre>
          <h4>Attempts</h4>
          {(d.attempts ?? []).length === 0 && <p className="muted">No attempt yet.</p>}
          <ol className="attempts">
            {(d.attempts ?? []).map((a) => (
              <li key={a.attempt}>
                <strong>#{a.attempt}</strong> {when(a.at)} · {a.status_code ? `HTTP ${a.status_code}` : "no answer"} · {a.duration_ms} ms
                {a.error && <p className="error">{a.error}</p>}
                {a.response && <pre className="payload" tabIndex={0} aria-label={`Response of attempt ${a.attempt}`}>{a.response}</pre>}
              </li>
            ))}
          </ol>
        </>
      )}
    </div>
  );
}
