// Teams, members' availability and routing rules (the tickets service), and the tenant's users.
import { useQuery } from "@tanstack/react-query";
import { api, etag, type Schemas } from "../../api/client";
import { raise } from "./problem";

export type Team = Schemas["Team"];
export type TeamCreate = Schemas["TeamCreate"];
export type TeamUpdate = Schemas["TeamUpdate"];
export type Rule = Schemas["Rule"];
export type RuleCreate = Schemas["RuleCreate"];
export type RuleIn = Schemas["RuleIn"];
export type User = Schemas["User"];
export type AssignmentMode = NonNullable<TeamCreate["assignment_mode"]>;
export type Priority = NonNullable<RuleCreate["set_priority"]>;

export const MODES: { value: AssignmentMode; label: string }[] = [
  { value: "manual", label: "Manual: routing sets only the team" },
  { value: "round_robin", label: "Round robin: the available member who waited longest" },
  { value: "least_open", label: "Least open: the member with the fewest open tickets" },
];

export const PRIORITIES: Priority[] = ["low", "normal", "high", "urgent"];

export function userLabel(users: readonly User[], id: string | null | undefined): string {
  const user = users.find((u) => u.id === id);
  return user ? user.name || user.email : id ? "a former user" : "nobody";
}

export function useUsers() {
  return useQuery({
    queryKey: ["users"],
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/users");
      return error ? raise(error) : data.data ?? [];
    },
  });
}

export function useTeams() {
  return useQuery({
    queryKey: ["teams"],
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/teams", { params: { query: { limit: 200, sort: "name" } } });
      return error ? raise(error) : data.data ?? [];
    },
  });
}

export function useRules() {
  return useQuery({
    queryKey: ["routing-rules"],
    queryFn: async () => {
      const { data, error } = await api.GET("/v1/routing-rules", { params: { query: { limit: 200, sort: "position" } } });
      return error ? raise(error) : data.data ?? [];
    },
  });
}

export async function createTeam(body: TeamCreate): Promise<Team> {
  const { data, error } = await api.POST("/v1/teams", { body });
  return error ? raise(error) : data;
}

export async function updateTeam(team: Team, body: TeamUpdate): Promise<Team> {
  const { data, error } = await api.PATCH("/v1/teams/{record_id}", {
    params: { path: { record_id: team.id ?? "" }, header: { "If-Match": etag(team.version) } },
    body,
  });
  return error ? raise(error) : data;
}

export async function deleteTeam(team: Team): Promise<void> {
  const { error } = await api.DELETE("/v1/teams/{record_id}", {
    params: { path: { record_id: team.id ?? "" } },
    headers: { "If-Match": etag(team.version) },
  });
  if (error) raise(error);
}

/** An agent away or back, in every team they belong to. */
export async function setAvailability(userId: string, available: boolean): Promise<void> {
  const { error } = await api.PUT("/v1/teams/availability/{user_id}", { params: { path: { user_id: userId } }, body: { available } });
  if (error) raise(error);
}

export async function createRule(body: RuleCreate): Promise<Rule> {
  const { data, error } = await api.POST("/v1/routing-rules", { body });
  return error ? raise(error) : data;
}

export async function updateRule(rule: Rule, body: RuleIn): Promise<Rule> {
  const { data, error } = await api.PATCH("/v1/routing-rules/{record_id}", {
    params: { path: { record_id: rule.id ?? "" }, header: { "If-Match": etag(rule.version) } },
    body,
  });
  return error ? raise(error) : data;
}

export async function deleteRule(rule: Rule): Promise<void> {
  const { error } = await api.DELETE("/v1/routing-rules/{record_id}", {
    params: { path: { record_id: rule.id ?? "" } },
    headers: { "If-Match": etag(rule.version) },
  });
  if (error) raise(error);
}

/**
 * The position changes that put `rules` in the given order (rules are tried by ascending
 * position): steps of 10, only for the rules whose position differs.
 */
export function renumber(rules: readonly Rule[]): { rule: Rule; position: number }[] {
  return rules.map((rule, i) => ({ rule, position: (i + 1) * 10 })).filter(({ rule, position }) => rule.position !== position);
}

/** Tags typed as "billing, vip" -> ["billing", "vip"]. */
export function parseTags(text: string): string[] {
  return text.split(",").map((t) => t.trim()).filter(Boolean);
}
