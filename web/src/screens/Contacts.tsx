import { useInfiniteQuery, useMutation, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { api, type Contact, describe } from "../api/client";
import { Field } from "../components/Field";

const COLUMNS = [
  { key: "name", label: "Name", sort: "last_name" },
  { key: "email", label: "Email", sort: "email" },
  { key: "lifecycle_stage", label: "Stage", sort: "lifecycle_stage" },
  { key: "company_name", label: "Company", sort: null },
  { key: "updated_at", label: "Updated", sort: "updated_at" },
] as const;

function cell(contact: Contact, key: (typeof COLUMNS)[number]["key"]): string {
  if (key === "name") return [contact.first_name, contact.last_name].filter(Boolean).join(" ") || "(no name)";
  if (key === "updated_at") return contact.updated_at ? new Date(contact.updated_at).toLocaleString() : "";
  return String(contact[key] ?? "");
}

export default function Contacts() {
  const [params, setParams] = useSearchParams();
  const q = params.get("q") ?? "";
  const filter = params.get("filter") ?? "";
  const sort = params.get("sort") ?? "-updated_at";
  const [creating, setCreating] = useState(false);

  const list = useInfiniteQuery({
    queryKey: ["contacts", q, filter, sort],
    initialPageParam: undefined as string | undefined,
    queryFn: async ({ pageParam }) => {
      const { data, error } = await api.GET("/v1/contacts", {
        params: { query: { q: q || undefined, filter: filter || undefined, sort, limit: 50, cursor: pageParam } },
      });
      if (error) throw new Error(describe(error));
      return data;
    },
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  const rows = list.data?.pages.flatMap((page) => page.data ?? []) ?? [];

  function search(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const next = new URLSearchParams(params);
    for (const name of ["q", "filter"]) {
      const value = String(form.get(name) ?? "").trim();
      if (value) next.set(name, value);
      else next.delete(name);
    }
    setParams(next);
  }

  function sortBy(field: string) {
    const next = new URLSearchParams(params);
    next.set("sort", sort === field ? `-${field}` : field);
    setParams(next);
  }

  return (
    <section aria-labelledby="contacts-title">
      <div className="toolbar">
        <h1 id="contacts-title">Contacts</h1>
        <Link to="/contacts/import">Import CSV</Link>
        <button type="button" onClick={() => setCreating((v) => !v)} aria-expanded={creating}>
          New contact
        </button>
      </div>
      {creating && <NewContact onDone={() => setCreating(false)} />}
      <form className="filters" role="search" onSubmit={search}>
        <Field label="Search" name="q" type="search" defaultValue={q} placeholder="Name, email, phone" />
        <Field label="Filter" name="filter" defaultValue={filter} placeholder="lifecycle_stage = 'lead'" />
        <button type="submit">Apply</button>
      </form>
      {list.error && <p role="alert" className="error">{list.error.message}</p>}
      <div className="table-wrap">
        <table>
          <caption className="sr-only">Contacts, sorted by {sort.replace(/^-/, "")}</caption>
          <thead>
            <tr>
              {COLUMNS.map((c) => (
                <th key={c.key} scope="col"
                  aria-sort={c.sort && sort.replace(/^-/, "") === c.sort ? (sort.startsWith("-") ? "descending" : "ascending") : undefined}>
                  {c.sort ? (
                    <button type="button" className="link" onClick={() => sortBy(c.sort)}>{c.label}</button>
                  ) : (
                    c.label
                  )}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((contact) => (
              <tr key={contact.id}>
                {COLUMNS.map((c) => (
                  <td key={c.key} data-label={c.label}>
                    {c.key === "name" ? <Link to={`/contacts/${contact.id}`}>{cell(contact, c.key)}</Link> : cell(contact, c.key)}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {list.isPending && <p role="status">Loading contacts…</p>}
      {!list.isPending && rows.length === 0 && <p>No contacts match.</p>}
      {list.hasNextPage && (
        <button type="button" onClick={() => void list.fetchNextPage()} disabled={list.isFetchingNextPage}>
          Load more
        </button>
      )}
    </section>
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
