import { useMutation, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { api } from "../../../api/client";
import { Field } from "../../../components/Field";
import { errorsFor, errorsOf, raise } from "../problem";
import { parseEventTypes } from "./events";

/** A new subscription; the signing secret the answer carries is shown once. */
export function WebhookForm() {
  const client = useQueryClient();
  const [secret, setSecret] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: async (body: { url: string; event_types: string[]; description: string | null; active: boolean }) => {
      const { data, error } = await api.POST("/v1/webhooks", { body });
      if (error) raise(error);
      return data;
    },
    onSuccess: (made) => {
      setSecret(made.secret ?? null);
      void client.invalidateQueries({ queryKey: ["webhooks"] });
    },
  });
  const errors = errorsOf(create.error);

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    create.mutate({ url: String(data.get("url") ?? ""), event_types: parseEventTypes(String(data.get("event_types") ?? "")),
      description: String(data.get("description") ?? "") || null, active: true }, { onSuccess: () => form.reset() });
  }

  return (
    <>
      {secret && (
        <div className="card" role="region" aria-label="The new signing secret">
          <p><strong>Copy the signing secret now: it is shown only once.</strong> Deliveries are signed with it
            (the Webhook-Signature header).</p>
          <label htmlFor="webhook-secret">Signing secret</label>
          <input id="webhook-secret" readOnly value={secret} onFocus={(e) => e.currentTarget.select()} />
          <button type="button" className="secondary" onClick={() => setSecret(null)}>I have copied it</button>
        </div>
      )}
      <form className="card" onSubmit={submit} aria-label="New webhook" noValidate>
        <Field label="Endpoint URL" name="url" inputMode="url" placeholder="https://example.com/hooks/crm" required errors={errors["url"]} />
        <Field label="Event types (comma-separated; crm.deal.* or * for all)" name="event_types" placeholder="crm.contact.created, crm.deal.*"
          required errors={errorsFor(errors, "event_types")} />
        <Field label="Description" name="description" errors={errors["description"]} />
        {create.error && <p role="alert" className="error">{create.error.message}</p>}
        <button type="submit" disabled={create.isPending}>Create webhook</button>
      </form>
    </>
  );
}
