import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { api, describe, type Schemas } from "../../api/client";
import { Field } from "../../components/Field";

type Scope = NonNullable<Schemas["ApiKeyIn"]["scopes"]>[number];
const AREAS = ["contacts", "pipeline", "tickets", "campaigns", "reports", "automation", "mail"] as const;

export default function ApiKeys() {
  const client = useQueryClient();
  const keys = useQuery({
    queryKey: ["api-keys"],
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/api-keys");
      if (error) throw new Error(describe(error));
      return data.data ?? [];
    },
  });
  const [secret, setSecret] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: async (body: { name: string; scopes: Scope[] }) => {
      const { data, error } = await api.POST("/v1/api-keys", { body });
      if (error) throw new Error(describe(error));
      return data;
    },
    onSuccess: (made) => {
      setSecret(made.key ?? null);
      setMessage(null);
      void client.invalidateQueries({ queryKey: ["api-keys"] });
    },
    onError: (e) => setMessage(e.message),
  });
  const revoke = useMutation({
    mutationFn: async (id: string) => {
      const { error } = await api.DELETE("/v1/api-keys/{key_id}", { params: { path: { key_id: id } } });
      if (error) throw new Error(describe(error));
    },
    onSettled: () => void client.invalidateQueries({ queryKey: ["api-keys"] }),
  });

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    const scopes = data.getAll("scope").map(String) as Scope[];
    create.mutate({ name: String(data.get("name") ?? ""), scopes });
  }

  return (
    <section aria-labelledby="keys-title">
      <h2 id="keys-title">API keys</h2>
      {secret && (
        <div className="card" role="region" aria-label="The new key">
          <p><strong>Copy this key now: it is shown only once.</strong></p>
          <label htmlFor="new-key">New key</label>
          <input id="new-key" readOnly value={secret} onFocus={(e) => e.currentTarget.select()} />
          <button type="button" className="secondary" onClick={() => setSecret(null)}>I have copied it</button>
        </div>
      )}
      <ul className="inbox">
        {(keys.data ?? []).filter((k) => !k.revoked_at).map((k) => (
          <li key={k.id} data-key={k.name}>
            <span className="grow"><strong>{k.name}</strong> <span className="muted">{k.prefix}… · {(k.scopes ?? []).join(", ")}</span></span>
            <button type="button" className="secondary" onClick={() => revoke.mutate(k.id ?? "")} aria-label={`Revoke ${k.name}`}>Revoke</button>
          </li>
        ))}
      </ul>
      <form className="card" onSubmit={submit} aria-label="New API key">
        <Field label="Key name" name="name" required />
        <fieldset>
          <legend>Scopes</legend>
          {AREAS.flatMap((area) => (["read", "write"] as const).map((mode) => `${area}:${mode}`)).map((scope) => (
            <label key={scope} className="check"><input type="checkbox" name="scope" value={scope} /> {scope}</label>
          ))}
        </fieldset>
        {message && <p role="alert" className="error">{message}</p>}
        <button type="submit" disabled={create.isPending}>Create key</button>
      </form>
    </section>
  );
}
