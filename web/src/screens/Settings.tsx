import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { api, describe, type Schemas } from "../api/client";
import { useMe } from "../api/me";
import { Field } from "../components/Field";

type Role = "owner" | "admin" | "member" | "viewer";
type Scope = NonNullable<Schemas["ApiKeyIn"]["scopes"]>[number];
const ROLES: Role[] = ["owner", "admin", "member", "viewer"];
const AREAS = ["contacts", "pipeline", "tickets", "campaigns", "reports", "automation", "mail"] as const;

export default function Settings() {
  const me = useMe();
  const roles = me.data?.roles ?? [];
  if (me.isPending) return <p role="status">Loading…</p>;
  // The API refuses these to members and viewers anyway; the console does not offer them.
  if (!roles.some((r) => r === "owner" || r === "admin")) {
    return <p>Only owners and admins manage users and API keys.</p>;
  }
  return (
    <section aria-labelledby="settings-title">
      <h1 id="settings-title">Settings</h1>
      <Users />
      <ApiKeys />
    </section>
  );
}

function Users() {
  const client = useQueryClient();
  const users = useQuery({
    queryKey: ["users"],
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/users");
      if (error) throw new Error(describe(error));
      return data.data ?? [];
    },
  });
  const [errors, setErrors] = useState<Record<string, string[]>>({});
  const [notice, setNotice] = useState<string | null>(null);
  const invite = useMutation({
    mutationFn: async (body: { email: string; role: Role; name?: string }) => {
      const { data, error } = await api.POST("/v1/users", { body });
      if (error) {
        setErrors((error as { errors?: Record<string, string[]> }).errors ?? {});
        throw new Error(describe(error));
      }
      return data;
    },
    onSuccess: (user) => {
      setErrors({});
      setNotice(`Invitation sent to ${user.email}.`);
      void client.invalidateQueries({ queryKey: ["users"] });
    },
    onError: (e) => setNotice(e.message),
  });
  const change = useMutation({
    mutationFn: async ({ id, body }: { id: string; body: { role?: Role; active?: boolean } }) => {
      const { error } = await api.PATCH("/v1/users/{user_id}", { params: { path: { user_id: id } }, body });
      if (error) throw new Error(describe(error));
    },
    onError: (e) => setNotice(e.message),
    onSettled: () => void client.invalidateQueries({ queryKey: ["users"] }),
  });

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    invite.mutate({ email: String(data.get("email") ?? ""), role: (data.get("role") as Role | null) ?? "member",
      name: String(data.get("name") ?? "") || undefined }, { onSuccess: () => form.reset() });
  }

  return (
    <section aria-labelledby="users-title">
      <h2 id="users-title">Users and roles</h2>
      <p role="status">{notice}</p>
      <div className="table-wrap">
        <table>
          <caption className="sr-only">Users</caption>
          <thead><tr><th scope="col">User</th><th scope="col">Role</th><th scope="col">Status</th></tr></thead>
          <tbody>
            {(users.data ?? []).map((u) => (
              <tr key={u.id} data-user={u.email}>
                <td data-label="User">{u.name ? `${u.name} · ` : ""}{u.email}</td>
                <td data-label="Role">
                  <label className="sr-only" htmlFor={`role-${u.id}`}>Role of {u.email}</label>
                  <select id={`role-${u.id}`} value={u.role} onChange={(e) => change.mutate({ id: u.id ?? "", body: { role: e.target.value as Role } })}>
                    {ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
                  </select>
                </td>
                <td data-label="Status">{u.active === false ? "deactivated" : u.email_verified ? "active" : "invited"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <form className="card" onSubmit={submit} aria-label="Invite a user">
        <Field label="Email to invite" name="email" type="email" required errors={errors["email"]} />
        <Field label="Name" name="name" errors={errors["name"]} />
        <label htmlFor="invite-role">Role</label>
        <select id="invite-role" name="role" defaultValue="member">
          {ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
        </select>
        <button type="submit" disabled={invite.isPending}>Send invitation</button>
      </form>
    </section>
  );
}

function ApiKeys() {
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
