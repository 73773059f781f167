import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent } from "react";
import { api } from "../../../api/client";
import { Field } from "../../../components/Field";
import { ConfirmButton } from "../../../components/ConfirmButton";
import { errorsOf, raise } from "../problem";

type Reason = "manual" | "unsubscribe";

/** Addresses the tenant's mail never goes to: list, add, lift. */
export function SuppressionsSection() {
  const client = useQueryClient();
  const list = useQuery({
    queryKey: ["suppressions"],
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/mail/suppressions", { params: { query: { limit: 200 } } });
      if (error) raise(error);
      return data.data ?? [];
    },
  });
  const refresh = () => void client.invalidateQueries({ queryKey: ["suppressions"] });
  const add = useMutation({
    mutationFn: async (body: { address: string; reason: Reason; detail: string | null }) => {
      const { data, error } = await api.POST("/v1/mail/suppressions", { body });
      if (error) raise(error);
      return data;
    },
    onSuccess: refresh,
  });
  const lift = useMutation({
    mutationFn: async (id: string) => {
      const { error } = await api.DELETE("/v1/mail/suppressions/{record_id}", { params: { path: { record_id: id } } });
      if (error) raise(error);
    },
    onSettled: refresh,
  });
  const errors = errorsOf(add.error);

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    add.mutate({ address: String(data.get("address") ?? ""), reason: (String(data.get("reason") ?? "manual") as Reason),
      detail: String(data.get("detail") ?? "") || null }, { onSuccess: () => form.reset() });
  }

  return (
    <section aria-labelledby="suppressions-title">
      <h3 id="suppressions-title">Suppressions</h3>
      {list.error && <p role="alert" className="error">{list.error.message}</p>}
      {lift.error && <p role="alert" className="error">{lift.error.message}</p>}
      {list.data?.length === 0 && <p className="muted">No suppressed addresses.</p>}
      <ul className="inbox">
        {(list.data ?? []).map((s) => (
          <li key={s.id} data-suppression={s.address}>
            <span className="grow"><strong>{s.address}</strong> <span className="badge">{s.reason?.replace("_", " ")}</span>
              {s.detail && <><br /><span className="muted">{s.detail}</span></>}
              <br /><span className="muted">since {s.created_at ? new Date(s.created_at).toLocaleString() : ""}</span></span>
            <ConfirmButton label="Remove" name={`Remove the suppression of ${s.address}`}
              question={`Mail may go to ${s.address} again. Remove?`} onConfirm={() => lift.mutate(s.id ?? "")} />
          </li>
        ))}
      </ul>
      <form className="card" onSubmit={submit} aria-label="Suppress an address" noValidate>
        <Field label="Address to suppress" name="address" type="email" required errors={errors["address"]} />
        <label htmlFor="suppression-reason">Reason</label>
        <select id="suppression-reason" name="reason" defaultValue="manual">
          <option value="manual">manual</option>
          <option value="unsubscribe">unsubscribe</option>
        </select>
        {errors["reason"] && <p className="error">{errors["reason"].join(" ")}</p>}
        <Field label="Note" name="detail" errors={errors["detail"]} />
        {add.error && <p role="alert" className="error">{add.error.message}</p>}
        <button type="submit" disabled={add.isPending}>Suppress</button>
      </form>
    </section>
  );
}
