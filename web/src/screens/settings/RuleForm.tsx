import { useMutation } from "@tanstack/react-query";
import { type FormEvent } from "react";
import { Field } from "../../components/Field";
import { SelectField, TextAreaField } from "./Controls";
import { errorsOf, summary } from "./problem";
import { createRule, parseTags, type Priority, PRIORITIES, type Rule, type RuleCreate, type Team, updateRule } from "./teamsApi";

const SHOWN = ["name", "condition", "team_id", "set_priority", "add_tags", "add_tags.", "enabled"];

/** Make a routing rule or change one: when (a condition in the filter language) and what it does. */
export function RuleForm({ rule, teams, position, onDone, onCancel }: {
  rule?: Rule;
  teams: readonly Team[];
  /** Where a new rule goes (after the others). */
  position?: number;
  onDone: (saved: Rule) => void;
  onCancel?: () => void;
}) {
  const save = useMutation({
    mutationFn: (body: RuleCreate) => (rule ? updateRule(rule, body) : createRule(body)),
    onSuccess: onDone,
  });
  const errors = errorsOf(save.error);
  const tagErrors = Object.entries(errors).filter(([k]) => k === "add_tags" || k.startsWith("add_tags.")).flatMap(([, m]) => m);

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    const priority = String(data.get("set_priority") ?? "");
    save.mutate({
      name: String(data.get("name") ?? "").trim(),
      condition: String(data.get("condition") ?? "").trim() || null,
      team_id: String(data.get("team_id") ?? "") || null,
      set_priority: (priority || null) as Priority | null,
      add_tags: parseTags(String(data.get("add_tags") ?? "")),
      enabled: data.get("enabled") === "on",
      ...(rule ? {} : position !== undefined ? { position } : {}),
    }, { onSuccess: () => { if (!rule) form.reset(); } });
  }

  return (
    <form className="card" onSubmit={submit} aria-label={rule ? `Edit the rule ${rule.name}` : "New routing rule"}>
      {!rule && <h4>New routing rule</h4>}
      <Field label="Rule name" name="name" defaultValue={rule?.name} required errors={errors["name"]} />
      <TextAreaField label="Condition" name="condition" rows={2} defaultValue={rule?.condition ?? ""} spellCheck={false}
        hint="The filter language on tickets, e.g. channel = 'email' and tags in ('billing'); empty: every ticket."
        errors={errors["condition"]} />
      <SelectField label="Send to team" name="team_id" defaultValue={rule?.team_id ?? ""} errors={errors["team_id"]}>
        <option value="">No team</option>
        {teams.map((t) => <option key={t.id} value={t.id}>{t.name}</option>)}
      </SelectField>
      <SelectField label="Set priority" name="set_priority" defaultValue={rule?.set_priority ?? ""} errors={errors["set_priority"]}>
        <option value="">Leave as it is</option>
        {PRIORITIES.map((p) => <option key={p} value={p}>{p}</option>)}
      </SelectField>
      <Field label="Add tags (comma-separated)" name="add_tags" defaultValue={(rule?.add_tags ?? []).join(", ")}
        errors={tagErrors.length ? tagErrors : undefined} />
      <label className="check"><input type="checkbox" name="enabled" defaultChecked={rule?.enabled ?? true} /> Enabled</label>
      {save.error && <p role="alert" className="error">{summary(save.error, SHOWN)}</p>}
      <div className="inline">
        <button type="submit" disabled={save.isPending}>{rule ? "Save rule" : "Add rule"}</button>
        {onCancel && <button type="button" className="secondary" onClick={onCancel}>Cancel</button>}
      </div>
    </form>
  );
}
