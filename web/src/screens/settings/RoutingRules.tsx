import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { ConfirmButton } from "../../components/ConfirmButton";
import { move } from "./stages";
import { RuleForm } from "./RuleForm";
import { deleteRule, renumber, type Rule, type Team, updateRule, useRules } from "./teamsApi";

/** The routing rules in the order they are tried (the first match applies), with up/down to reorder. */
export function RoutingRules({ teams, onNotice }: { teams: readonly Team[]; onNotice: (text: string) => void }) {
  const client = useQueryClient();
  const rules = useRules();
  const [editing, setEditing] = useState<string | null>(null);
  const [focus, setFocus] = useState<string | null>(null);
  const refresh = () => void client.invalidateQueries({ queryKey: ["routing-rules"] });
  const list = rules.data ?? [];
  useEffect(() => {
    if (focus) document.getElementById(focus)?.focus();
  }, [focus, list]);
  const reorder = useMutation({
    mutationFn: async (ordered: Rule[]) => {
      for (const { rule, position } of renumber(ordered)) await updateRule(rule, { position });
    },
    onSettled: refresh,
  });
  const remove = useMutation({ mutationFn: deleteRule, onSuccess: (_, rule) => onNotice(`Rule ${rule.name} deleted.`), onSettled: refresh });
  const teamName = (id: string | null | undefined) => teams.find((t) => t.id === id)?.name;

  function moveRule(index: number, delta: number) {
    const rule = list[index];
    if (!rule || reorder.isPending) return;
    const ordered = move(list, index, delta);
    const at = ordered.indexOf(rule);
    const edge = delta < 0 ? at === 0 : at === ordered.length - 1;
    client.setQueryData<Rule[]>(["routing-rules"], ordered);
    setFocus(`${(delta < 0) !== edge ? "rule-up" : "rule-down"}-${rule.id ?? ""}`);
    reorder.mutate(ordered, { onSuccess: () => onNotice(`Rule ${rule.name} is now tried ${at + 1} of ${ordered.length}.`) });
  }

  const problem = reorder.error ?? remove.error;
  const last = list.reduce((max, r) => Math.max(max, r.position ?? 0), 0);
  return (
    <section aria-labelledby="rules-title">
      <h3 id="rules-title">Routing rules</h3>
      <p className="muted">A new ticket without a team or assignee gets the first enabled rule it matches, tried from the top.</p>
      {problem && <p role="alert" className="error">{problem.message}</p>}
      {rules.error && <p role="alert" className="error">{rules.error.message}</p>}
      {!rules.isPending && list.length === 0 && <p className="muted">No routing rules yet.</p>}
      <ol className="inbox settings-list">
        {list.map((rule, index) => (
          <li key={rule.id} data-rule={rule.name}>
            <span className="grow">
              <strong>{rule.name}</strong>{rule.enabled ? "" : " (disabled)"}
              <span className="muted block">When {rule.condition ? <code>{rule.condition}</code> : "any ticket"}
                {rule.team_id ? ` → ${teamName(rule.team_id) ?? "a deleted team"}` : ""}
                {rule.set_priority ? ` · priority ${rule.set_priority}` : ""}
                {rule.add_tags?.length ? ` · tags ${rule.add_tags.join(", ")}` : ""}</span>
            </span>
            <button type="button" id={`rule-up-${rule.id ?? ""}`} className="secondary" aria-label={`Move rule ${rule.name} up`}
              disabled={index === 0} onClick={() => moveRule(index, -1)}>↑ Up</button>
            <button type="button" id={`rule-down-${rule.id ?? ""}`} className="secondary" aria-label={`Move rule ${rule.name} down`}
              disabled={index === list.length - 1} onClick={() => moveRule(index, 1)}>↓ Down</button>
            <button type="button" className="secondary" aria-expanded={editing === rule.id} aria-label={`Edit rule ${rule.name}`}
              onClick={() => setEditing(editing === rule.id ? null : rule.id ?? null)}>Edit</button>
            <ConfirmButton label="Delete" what={`rule ${rule.name}`} question={`Delete the rule ${rule.name}?`} busy={remove.isPending}
              onConfirm={() => remove.mutate(rule)} />
            {editing === rule.id && (
              <div className="full">
                <RuleForm rule={rule} teams={teams} onCancel={() => setEditing(null)}
                  onDone={(saved) => { setEditing(null); onNotice(`Rule ${saved.name} saved.`); refresh(); }} />
              </div>
            )}
          </li>
        ))}
      </ol>
      <RuleForm teams={teams} position={last + 10} onDone={(made) => { onNotice(`Rule ${made.name} added.`); refresh(); }} />
    </section>
  );
}
