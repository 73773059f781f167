import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { api, type Schemas } from "../../../api/client";
import { Field } from "../../../components/Field";
import { ConfirmButton } from "../../../components/ConfirmButton";
import { errorsOf, raise } from "../problem";

type Secret = Schemas["Secret"];

/** The tenant's inbound addresses: rename the mailbox, make or rotate the raw-MIME webhook secret (shown once). */
export function AddressesSection() {
  const client = useQueryClient();
  const [secret, setSecret] = useState<Secret | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const addresses = useQuery({
    queryKey: ["mail-addresses"],
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/mail/addresses");
      if (error) raise(error);
      return data;
    },
  });
  const rename = useMutation({
    mutationFn: async (mailbox: string) => {
      const { data, error } = await api.PATCH("/v1/mail/addresses", { body: { mailbox } });
      if (error) raise(error);
      return data;
    },
    onSuccess: (data) => { client.setQueryData(["mail-addresses"], data); setNotice(`The mailbox is now ${data.mailbox ?? ""}.`); },
  });
  const rotate = useMutation({
    mutationFn: async () => {
      const { data, error } = await api.POST("/v1/mail/addresses/inbound-secret");
      if (error) raise(error);
      return data;
    },
    onSuccess: (data) => { setSecret(data); void client.invalidateQueries({ queryKey: ["mail-addresses"] }); },
  });
  const data = addresses.data;
  const hook = data?.inbound_webhook;
  const errors = errorsOf(rename.error);

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    rename.mutate(String(new FormData(event.currentTarget).get("mailbox") ?? ""));
  }

  return (
    <section aria-labelledby="addresses-title">
      <h3 id="addresses-title">Mail addresses</h3>
      <p role="status">{notice}</p>
      {addresses.error && <p role="alert" className="error">{addresses.error.message}</p>}
      {data && (
        <dl className="fields">
          {Object.entries(data.addresses ?? {}).map(([kind, address]) => (
            <div key={kind} className="pair"><dt>{kind}</dt><dd><code>{address}</code></dd></div>
          ))}
          <div className="pair"><dt>Ticket replies</dt><dd><code>{data.reply_token_format}</code></dd></div>
          <div className="pair"><dt>Log mail on a deal</dt><dd><code>{data.deal_log_format}</code></dd></div>
          <div className="pair"><dt>Raw-MIME webhook</dt><dd>{hook?.configured
            ? `configured${hook.rotated_at ? `, secret made ${new Date(hook.rotated_at).toLocaleString()}` : ""}` : "not configured"}</dd></div>
        </dl>
      )}
      {data && (
        <form className="card" onSubmit={submit} aria-label="Rename the mailbox" noValidate key={data.mailbox}>
          <Field label="Mailbox name" name="mailbox" defaultValue={data.mailbox} required errors={errors["mailbox"]} />
          {rename.error && <p role="alert" className="error">{rename.error.message}</p>}
          <button type="submit" disabled={rename.isPending}>Rename mailbox</button>
        </form>
      )}
      {secret ? (
        <div className="card" role="region" aria-label="The new inbound secret">
          <p><strong>Copy the webhook address now: its secret is shown only once.</strong></p>
          <label htmlFor="inbound-url">Inbound webhook address</label>
          <input id="inbound-url" readOnly value={secret.url ?? ""} onFocus={(e) => e.currentTarget.select()} />
          <label htmlFor="inbound-secret">Secret</label>
          <input id="inbound-secret" readOnly value={secret.secret ?? ""} onFocus={(e) => e.currentTarget.select()} />
          <button type="button" className="secondary" onClick={() => setSecret(null)}>I have copied it</button>
        </div>
      ) : (
        <div className="inline">
          {rotate.error && <p role="alert" className="error">{rotate.error.message}</p>}
          {hook?.configured ? (
            <ConfirmButton label="Rotate secret" name="Rotate secret of the inbound webhook"
              question="Rotate? The old webhook address stops working at once." onConfirm={() => rotate.mutate()} />
          ) : (
            <button type="button" onClick={() => rotate.mutate()} disabled={rotate.isPending}>Make an inbound webhook secret</button>
          )}
        </div>
      )}
    </section>
  );
}
