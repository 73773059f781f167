import { useMutation, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { api, describe } from "../api/client";
import { Field } from "../components/Field";
import { companySource } from "../records/sources/companies";
import { RecordList } from "../records/table/RecordList";

export default function Companies() {
  const [creating, setCreating] = useState(false);
  return (
    <RecordList source={companySource} title="Companies"
      actions={<button type="button" onClick={() => setCreating((v) => !v)} aria-expanded={creating}>New company</button>}>
      {creating && <NewCompany onDone={() => setCreating(false)} />}
    </RecordList>
  );
}

interface CompanyDraft {
  name: string;
  domain?: string | undefined;
  industry?: string | undefined;
  size?: number | undefined;
}

function NewCompany({ onDone }: { onDone: () => void }) {
  const client = useQueryClient();
  const [errors, setErrors] = useState<Record<string, string[]>>({});
  const create = useMutation({
    mutationFn: async (body: CompanyDraft) => {
      const { data, error } = await api.POST("/v1/companies", { body });
      if (error) {
        setErrors((error as { errors?: Record<string, string[]> }).errors ?? {});
        throw new Error(describe(error));
      }
      return data;
    },
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["companies"] });
      onDone();
    },
  });

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const value = (name: string) => String(form.get(name) ?? "").trim() || undefined;
    const size = value("size");
    create.mutate({ name: value("name") ?? "", domain: value("domain"), industry: value("industry"), size: size === undefined ? undefined : Number(size) });
  }

  return (
    <form className="card" onSubmit={submit} aria-label="New company">
      <Field label="Company name" name="name" required errors={errors["name"]} />
      <Field label="Domain" name="domain" placeholder="acme.com" errors={errors["domain"]} />
      <Field label="Industry" name="industry" errors={errors["industry"]} />
      <Field label="Employees" name="size" type="number" min={0} errors={errors["size"]} />
      {create.error && <p role="alert" className="error">{create.error.message}</p>}
      <button type="submit" disabled={create.isPending}>Save company</button>
    </form>
  );
}
