import { Route, Routes } from "react-router-dom";
import { Deliveries } from "./webhooks/Deliveries";
import { WebhookList } from "./webhooks/WebhookList";

/** Webhook subscriptions and, per webhook, its delivery log (/settings/webhooks/:id). */
export default function WebhookSettings() {
  return (
    <section aria-labelledby="webhooks-title">
      <h2 id="webhooks-title">Webhooks</h2>
      <Routes>
        <Route index element={<WebhookList />} />
        <Route path=":id" element={<Deliveries />} />
      </Routes>
    </section>
  );
}
