import { useMutation } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { Field } from "../../components/Field";
import { SelectField } from "./Controls";
import { errorsOf, summary } from "./problem";
import { type AssignmentMode, createTeam, MODES, type Team, type TeamCreate, updateTeam, type User } from "./teamsApi";

interface MemberChoice {
  member: boolean;
  capacity: string;
}

const SHOWN = ["name", "lead_id", "assignment_mode", "members", "sla_escalation"];

/** Make a team or change one: name, members (with capacity), lead, assignment method, SLA escalation. */
export function TeamForm({ team, users, onDone, onCancel }: {
  team?: Team;
  users: readonly User[];
  onDone: (saved: Team) => void;
  onCancel?: () => void;
}) {
  const [choices, setChoices] = useState<Record<string, MemberChoice>>(() => Object.fromEntries(
    (team?.members ?? []).map((m) => [m.user_id ?? "", { member: true, capacity: m.capacity == null ? "" : String(m.capacity) }])));
  const save = useMutation({
    mutationFn: (body: TeamCreate) => (team ? updateTeam(team, body) : createTeam(body)),
    onSuccess: onDone,
  });
  const errors = errorsOf(save.error);
  // The members in the order sent: the team's current order first, then newly ticked users.
  const order = [...(team?.members ?? []).map((m) => m.user_id ?? ""), ...users.map((u) => u.id ?? "")]
    .filter((id, i, all) => all.indexOf(id) === i && choices[id]?.member);
  const memberErrors = (userId: string, field: string) => errors[`members.${order.indexOf(userId)}.${field}`];
  const prefix = team ? `team-${team.id}` : "new-team";

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    const lead = String(data.get("lead_id") ?? "");
    save.mutate({
      name: String(data.get("name") ?? "").trim(),
      assignment_mode: String(data.get("assignment_mode")) as AssignmentMode,
      lead_id: lead || null,
      escalate_on_sla_warning: data.get("escalate") === "on",
      sla_escalation: data.get("sla_escalation") === "reassign" ? "reassign" : "notify",
      members: order.map((id) => {
        const capacity = choices[id]?.capacity.trim() ?? "";
        return { user_id: id, capacity: capacity === "" ? null : Number(capacity) };
      }),
    }, { onSuccess: () => { if (!team) { form.reset(); setChoices({}); } } });
  }

  const set = (id: string, patch: Partial<MemberChoice>) =>
    setChoices((c) => ({ ...c, [id]: { member: c[id]?.member ?? false, capacity: c[id]?.capacity ?? "", ...patch } }));

  return (
    <form className="card" onSubmit={submit} aria-label={team ? `Edit the team ${team.name}` : "New team"}>
      {!team && <h3>New team</h3>}
      <Field label="Team name" name="name" defaultValue={team?.name} required errors={errors["name"]} />
      <SelectField label="Assignment method" name="assignment_mode" defaultValue={team?.assignment_mode ?? "manual"} errors={errors["assignment_mode"]}>
        {MODES.map((m) => <option key={m.value} value={m.value}>{m.label}</option>)}
      </SelectField>
      <fieldset>
        <legend>Members and their capacity (most open tickets routing gives them; empty: no limit)</legend>
        {errors["members"] && <p className="error">{errors["members"].join(" ")}</p>}
        {users.map((u) => {
          const id = u.id ?? "";
          const choice = choices[id];
          const capacityErrors = memberErrors(id, "capacity");
          return (
            <div key={id} className="member-choice" data-user={u.email}>
              <label className="check">
                <input type="checkbox" checked={choice?.member ?? false} onChange={(e) => set(id, { member: e.target.checked })} />
                {u.name || u.email}
              </label>
              <label className="sr-only" htmlFor={`${prefix}-cap-${id}`}>Capacity of {u.name || u.email}</label>
              <input id={`${prefix}-cap-${id}`} type="number" inputMode="numeric" placeholder="no limit" className="capacity"
                disabled={!choice?.member} value={choice?.capacity ?? ""} onChange={(e) => set(id, { capacity: e.target.value })}
                aria-invalid={Boolean(capacityErrors)} aria-describedby={capacityErrors ? `${prefix}-cap-${id}-error` : undefined} />
              {capacityErrors && <p id={`${prefix}-cap-${id}-error`} className="error">{capacityErrors.join(" ")}</p>}
            </div>
          );
        })}
      </fieldset>
      <SelectField label="Lead (told about SLA breaches and escalations)" name="lead_id" defaultValue={team?.lead_id ?? ""} errors={errors["lead_id"]}>
        <option value="">No lead</option>
        {users.map((u) => <option key={u.id} value={u.id}>{u.name || u.email}</option>)}
      </SelectField>
      <label className="check">
        <input type="checkbox" name="escalate" defaultChecked={team?.escalate_on_sla_warning ?? false} /> Escalate SLA warnings to the lead
      </label>
      <SelectField label="On an SLA warning" name="sla_escalation" defaultValue={team?.sla_escalation ?? "notify"} errors={errors["sla_escalation"]}>
        <option value="notify">Notify the lead</option>
        <option value="reassign">Notify the lead and reassign the ticket to them</option>
      </SelectField>
      {save.error && <p role="alert" className="error">{summary(save.error, [...SHOWN, ...order.map((_, i) => `members.${i}.capacity`)])}</p>}
      <div className="inline">
        <button type="submit" disabled={save.isPending}>{team ? "Save team" : "Create team"}</button>
        {onCancel && <button type="button" className="secondary" onClick={onCancel}>Cancel</button>}
      </div>
    </form>
  );
}
