import { useMutation, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { Link } from "react-router-dom";
import { api, describe } from "../api/client";
import { Field } from "../components/Field";
import { contactSource } from "../records/sources/contacts";
import { RecordList } from "../records/table/RecordList";

export default function Contacts() {
  const [creating, setCreating] = useState(false);
  return (
    <RecordList source={contactSource} title="Contacts"
      actions={
        <>
          <Link to="/contacts/import">Import CSV</Link>
          <button type="button" onClick={() => setCreating((v) => !v)} aria-expanded={creating}>New contact</button>
        </>
      }>
      {creating && <NewContact onDone={() => setCreating(false)} />}
    </RecordList>
  );
}

function NewContact({ onDone }: { onDone: () => void }) {
  const client = useQueryClient();
  const [errors, setErrors] = useState<Record<string, string[]>>({});
  const create = useMutation({
    mutationFn: async (body: { first_name?: string; last_name?: string; email?: string }) => {
      const { data, error } = await api.POST("/v1/contacts", { body });
      if (error) {
        setErrors((error as { errors?: Record<string, string[]> }).errors ?? {});
        throw new Error(describe(error));
      }
      return data;
    },
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["contacts"] });
      onDone();
    },
  });

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const value = (name: string) => String(form.get(name) ?? "").trim() || undefined;
    create.mutate({ first_name: value("first_name"), last_name: value("last_name"), email: value("email") });
  }

  return (
    <form className="card" onSubmit={submit} aria-label="New contact">
      <Field label="First name" name="first_name" errors={errors["first_name"]} />
      <Field label="Last name" name="last_name" errors={errors["last_name"]} />
      <Field label="Email" name="email" type="email" errors={errors["email"]} />
      {create.error && <p role="alert" className="error">{create.error.message}</p>}
      <button type="submit" disabled={create.isPending}>Save contact</button>
    </form>
  );
}
