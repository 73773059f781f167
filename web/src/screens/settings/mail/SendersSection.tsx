import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { api, type Schemas } from "../../../api/client";
import { Field } from "../../../components/Field";
import { ConfirmButton } from "../../../components/ConfirmButton";
import { errorsOf, raise } from "../problem";

type Sender = Schemas["Sender"];

export function senderStatus(s: Sender, now: Date = new Date()): string {
  if (s.verified) return "verified";
  if (s.verification_expires_at && new Date(s.verification_expires_at) < now) return "unverified: the link expired";
  return "unverified: link sent";
}

/** From addresses: add (a verification link is mailed), resend the link, make the default, remove. */
export function SendersSection() {
  const client = useQueryClient();
  const [notice, setNotice] = useState<string | null>(null);
  const senders = useQuery({
    queryKey: ["mail-senders"],
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/mail/senders", { params: { query: { limit: 200 } } });
      if (error) raise(error);
      return data.data ?? [];
    },
  });
  const refresh = () => void client.invalidateQueries({ queryKey: ["mail-senders"] });
  const add = useMutation({
    mutationFn: async (body: { address: string; name: string | null }) => {
      const { data, error } = await api.POST("/v1/mail/senders", { body });
      if (error) raise(error);
      return data;
    },
    onSuccess: (s) => { setNotice(`A verification link was mailed to ${s.address}.`); refresh(); },
  });
  const act = useMutation({
    mutationFn: async ({ sender, action }: { sender: Sender; action: "resend" | "default" | "delete" }) => {
      const path = { params: { path: { record_id: sender.id ?? "" } } };
      const { error } = action === "resend" ? await api.POST("/v1/mail/senders/{record_id}/resend", path)
        : action === "default" ? await api.PATCH("/v1/mail/senders/{record_id}", { ...path, body: { is_default: true } })
          : await api.DELETE("/v1/mail/senders/{record_id}", path);
      if (error) raise(error);
      return { sender, action };
    },
    onSuccess: ({ sender, action }) => setNotice(action === "resend" ? `A new link was mailed to ${sender.address}.`
      : action === "default" ? `${sender.address} is the default sender.` : `${sender.address} was removed.`),
    onSettled: refresh,
  });
  const errors = errorsOf(add.error);

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    add.mutate({ address: String(data.get("address") ?? ""), name: String(data.get("name") ?? "") || null },
      { onSuccess: () => form.reset() });
  }

  return (
    <section aria-labelledby="senders-title">
      <h3 id="senders-title">Senders</h3>
      <p role="status">{notice}</p>
      {senders.error && <p role="alert" className="error">{senders.error.message}</p>}
      {act.error && <p role="alert" className="error">{act.error.message}</p>}
      {senders.data?.length === 0 && <p className="muted">No sender addresses yet: mail goes out from the platform's address.</p>}
      <ul className="inbox">
        {(senders.data ?? []).map((s) => (
          <li key={s.id} data-sender={s.address}>
            <span className="grow"><strong>{s.address}</strong> {s.name && <span className="muted">{s.name}</span>}
              {s.is_default && <span className="badge">default</span>}</span>
            <span className={s.verified ? "badge" : "badge warning"} data-testid="sender-status">{senderStatus(s)}</span>
            {!s.verified && <button type="button" className="secondary" aria-label={`Resend link to ${s.address}`}
              onClick={() => act.mutate({ sender: s, action: "resend" })}>Resend link</button>}
            {s.verified && !s.is_default && <button type="button" className="secondary" aria-label={`Make default: ${s.address}`}
              onClick={() => act.mutate({ sender: s, action: "default" })}>Make default</button>}
            <ConfirmButton label="Remove" name={`Remove ${s.address}`} question={`Remove ${s.address}?`}
              onConfirm={() => act.mutate({ sender: s, action: "delete" })} />
          </li>
        ))}
      </ul>
      <form className="card" onSubmit={submit} aria-label="Add a sender" noValidate>
        <Field label="Sender address" name="address" type="email" required errors={errors["address"]} />
        <Field label="Display name" name="name" errors={errors["name"]} />
        {add.error && <p role="alert" className="error">{add.error.message}</p>}
        <button type="submit" disabled={add.isPending}>Add sender</button>
      </form>
    </section>
  );
}
