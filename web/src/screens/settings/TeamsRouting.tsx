import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ConfirmButton } from "../../components/ConfirmButton";
import { RoutingRules } from "./RoutingRules";
import { deleteTeam, MODES, setAvailability, type Team, useTeams, userLabel, useUsers } from "./teamsApi";
import { TeamForm } from "./TeamForm";

export default function TeamsRouting() {
  const client = useQueryClient();
  const teams = useTeams();
  const users = useUsers();
  const [editing, setEditing] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  // The availability being saved, shown at once (a refusal puts it back).
  const [saving, setSaving] = useState<Record<string, boolean>>({});
  const refresh = () => client.invalidateQueries({ queryKey: ["teams"] });
  const remove = useMutation({
    mutationFn: deleteTeam,
    onSuccess: (_, team) => { setProblem(null); setNotice(`Team ${team.name} deleted.`); },
    onError: (e) => setProblem(e.message),
    onSettled: refresh,
  });
  const availability = useMutation({
    mutationFn: ({ userId, available }: { userId: string; available: boolean }) => setAvailability(userId, available),
    onSuccess: (_, { userId, available }) => {
      setProblem(null);
      setNotice(`${userLabel(people, userId)} is now ${available ? "available" : "away"} in all their teams.`);
    },
    onError: (e) => setProblem(e.message),
    onSettled: async () => {
      await refresh();
      setSaving({});
    },
  });
  const people = users.data ?? [];
  const done = (verb: string) => (team: Team) => {
    setEditing(null);
    setProblem(null);
    setNotice(`Team ${team.name} ${verb}.`);
    void refresh();
  };

  return (
    <section aria-labelledby="teams-title">
      <h2 id="teams-title">Teams and routing</h2>
      <p role="status">{notice}</p>
      {problem && <p role="alert" className="error">{problem}</p>}
      {(teams.error ?? users.error) && <p role="alert" className="error">{(teams.error ?? users.error)?.message}</p>}
      <h3>Teams</h3>
      {teams.isPending && <p role="status">Loading…</p>}
      {!teams.isPending && (teams.data ?? []).length === 0 && <p className="muted">No teams yet.</p>}
      <ul className="inbox settings-list">
        {(teams.data ?? []).map((team) => (
          <li key={team.id} data-team={team.name}>
            <span className="grow">
              <strong>{team.name}</strong>{" "}
              <span className="muted">{MODES.find((m) => m.value === team.assignment_mode)?.label.split(":")[0]} · lead: {userLabel(people, team.lead_id)}</span>
            </span>
            <button type="button" className="secondary" aria-expanded={editing === team.id} aria-label={`Edit ${team.name}`}
              onClick={() => setEditing(editing === team.id ? null : team.id ?? null)}>Edit</button>
            <ConfirmButton label="Delete" what={`team ${team.name}`} question={`Delete the team ${team.name}?`} busy={remove.isPending}
              onConfirm={() => remove.mutate(team)} />
            <ul className="members full" aria-label={`Members of ${team.name}`}>
              {(team.members ?? []).length === 0 && <li className="muted">No members.</li>}
              {(team.members ?? []).map((m) => (
                <li key={m.user_id} data-member={userLabel(people, m.user_id)}>
                  <span className="grow">{userLabel(people, m.user_id)} <span className="muted">
                    {m.open_count ?? 0} open{m.capacity == null ? "" : ` of at most ${m.capacity}`}</span></span>
                  <label className="check">
                    <input type="checkbox" disabled={availability.isPending} checked={saving[m.user_id ?? ""] ?? m.available ?? true}
                      onChange={(e) => {
                        setSaving({ [m.user_id ?? ""]: e.target.checked });
                        availability.mutate({ userId: m.user_id ?? "", available: e.target.checked });
                      }} />
                    Available <span className="sr-only">: {userLabel(people, m.user_id)} (in all their teams)</span>
                  </label>
                </li>
              ))}
            </ul>
            {editing === team.id && <div className="full"><TeamForm team={team} users={people} onDone={done("saved")} onCancel={() => setEditing(null)} /></div>}
          </li>
        ))}
      </ul>
      <TeamForm users={people} onDone={done("created")} />
      <RoutingRules teams={teams.data ?? []} onNotice={setNotice} />
    </section>
  );
}
