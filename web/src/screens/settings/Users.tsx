import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { api, describe } from "../../api/client";
import { Field } from "../../components/Field";

type Role = "owner" | "admin" | "member" | "viewer";
const ROLES: Role[] = ["owner", "admin", "member", "viewer"];

export default function Users() {
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
