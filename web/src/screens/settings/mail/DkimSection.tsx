import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent } from "react";
import { api } from "../../../api/client";
import { Field } from "../../../components/Field";
import { ConfirmButton } from "../../../components/ConfirmButton";
import { errorsOf, raise } from "../problem";

/** DKIM signing keys per sender domain, each with the DNS TXT record to publish. */
export function DkimSection() {
  const client = useQueryClient();
  const keys = useQuery({
    queryKey: ["dkim-keys"],
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/mail/dkim-keys", { params: { query: { limit: 200 } } });
      if (error) raise(error);
      return data.data ?? [];
    },
  });
  const refresh = () => void client.invalidateQueries({ queryKey: ["dkim-keys"] });
  const create = useMutation({
    mutationFn: async (body: { domain: string; selector: string }) => {
      const { data, error } = await api.POST("/v1/mail/dkim-keys", { body });
      if (error) raise(error);
      return data;
    },
    onSuccess: refresh,
  });
  const remove = useMutation({
    mutationFn: async (id: string) => {
      const { error } = await api.DELETE("/v1/mail/dkim-keys/{record_id}", { params: { path: { record_id: id } } });
      if (error) raise(error);
    },
    onSettled: refresh,
  });
  const errors = errorsOf(create.error);

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    create.mutate({ domain: String(data.get("domain") ?? ""), selector: String(data.get("selector") ?? "") || "crm" },
      { onSuccess: () => form.reset() });
  }

  return (
    <section aria-labelledby="dkim-title">
      <h3 id="dkim-title">DKIM keys</h3>
      {keys.error && <p role="alert" className="error">{keys.error.message}</p>}
      {remove.error && <p role="alert" className="error">{remove.error.message}</p>}
      {keys.data?.length === 0 && <p className="muted">No DKIM keys yet.</p>}
      <ul className="inbox">
        {(keys.data ?? []).map((k) => (
          <li key={k.id} data-dkim={k.domain}>
            <div className="grow">
              <strong>{k.domain}</strong> <span className="muted">selector {k.selector} · {k.algorithm}</span>
              <p className="muted">Publish this {k.dns_record?.type} record in the domain's DNS:</p>
              <label htmlFor={`dkim-name-${k.id}`}>Record name</label>
              <input id={`dkim-name-${k.id}`} readOnly value={k.dns_record?.name ?? ""} onFocus={(e) => e.currentTarget.select()} />
              <label htmlFor={`dkim-value-${k.id}`}>Record value ({k.dns_record?.type})</label>
              <textarea id={`dkim-value-${k.id}`} readOnly rows={3} value={k.dns_record?.value ?? ""} onFocus={(e) => e.currentTarget.select()} />
            </div>
            <ConfirmButton label="Delete" name={`Delete the DKIM key of ${k.domain}`} question={`Delete the key of ${k.domain}?`}
              onConfirm={() => remove.mutate(k.id ?? "")} />
          </li>
        ))}
      </ul>
      <form className="card" onSubmit={submit} aria-label="New DKIM key" noValidate>
        <Field label="Domain" name="domain" placeholder="example.com" required errors={errors["domain"]} />
        <Field label="Selector" name="selector" placeholder="crm" errors={errors["selector"]} />
        {create.error && <p role="alert" className="error">{create.error.message}</p>}
        <button type="submit" disabled={create.isPending}>Generate key</button>
      </form>
    </section>
  );
}
