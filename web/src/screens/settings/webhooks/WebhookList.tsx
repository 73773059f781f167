import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router-dom";
import { api, etag, type Schemas } from "../../../api/client";
import { ConfirmButton } from "../../../components/ConfirmButton";
import { raise } from "../problem";
import { WebhookForm } from "./WebhookForm";

type Webhook = Schemas["Webhook"];
type Action = "enable" | "disable" | "test" | "delete";

/** The subscriptions: enable or disable, send a test event, open the delivery log, delete. */
export function WebhookList() {
  const client = useQueryClient();
  const [notice, setNotice] = useState<string | null>(null);
  const hooks = useQuery({
    queryKey: ["webhooks"],
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/webhooks", { params: { query: { limit: 200 } } });
      if (error) raise(error);
      return data.data ?? [];
    },
  });
  const act = useMutation({
    mutationFn: async ({ hook, action }: { hook: Webhook; action: Action }) => {
      const id = hook.id ?? "";
      if (action === "test") {
        const { error } = await api.POST("/v1/webhooks/{record_id}/test", { params: { path: { record_id: id } } });
        if (error) raise(error);
      } else if (action === "delete") {
        const { error } = await api.DELETE("/v1/webhooks/{record_id}", { params: { path: { record_id: id } } });
        if (error) raise(error);
      } else {
        const { error } = await api.PATCH("/v1/webhooks/{record_id}", {
          params: { path: { record_id: id }, header: { "If-Match": etag(hook.version) } }, body: { url: hook.url ?? "", event_types: hook.event_types ?? [], active: action === "enable" } });
        if (error) raise(error);
      }
      return { hook, action };
    },
    onSuccess: ({ hook, action }) => setNotice({
      test: `A test event is on its way to ${hook.url ?? ""}.`, delete: `The webhook to ${hook.url ?? ""} was deleted.`,
      enable: `The webhook to ${hook.url ?? ""} is enabled.`, disable: `The webhook to ${hook.url ?? ""} is disabled.`,
    }[action]),
    onError: () => setNotice(null),
    onSettled: (_done, _error, { hook }) => {
      void client.invalidateQueries({ queryKey: ["webhooks"] });
      void client.invalidateQueries({ queryKey: ["webhook-deliveries", hook.id] });
    },
  });
  return (
    <>
      <p role="status">{notice}</p>
      {hooks.error && <p role="alert" className="error">{hooks.error.message}</p>}
      {act.error && <p role="alert" className="error">{act.error.message}</p>}
      {hooks.data?.length === 0 && <p className="muted">No webhooks yet.</p>}
      <ul className="inbox">
        {(hooks.data ?? []).map((h) => (
          <li key={h.id} data-webhook={h.url}>
            <span className="grow"><strong className="break">{h.url}</strong>
              <span className={h.active ? "badge" : "badge warning"}>{h.active ? "enabled" : "disabled"}</span>
              <br /><span className="muted">{(h.event_types ?? []).join(", ")}{h.description ? ` · ${h.description}` : ""}</span></span>
            <Link to={h.id ?? ""} aria-label={`Deliveries of ${h.url ?? ""}`}>Deliveries</Link>
            <button type="button" className="secondary" aria-label={`Send test to ${h.url ?? ""}`} disabled={!h.active}
              onClick={() => act.mutate({ hook: h, action: "test" })}>Send test</button>
            <button type="button" className="secondary" aria-label={`${h.active ? "Disable" : "Enable"} ${h.url ?? ""}`}
              onClick={() => act.mutate({ hook: h, action: h.active ? "disable" : "enable" })}>{h.active ? "Disable" : "Enable"}</button>
            <ConfirmButton label="Delete" name={`Delete the webhook to ${h.url ?? ""}`} question={`Delete the webhook to ${h.url ?? ""}?`}
              onConfirm={() => act.mutate({ hook: h, action: "delete" })} />
          </li>
        ))}
      </ul>
      <WebhookForm />
    </>
  );
}
