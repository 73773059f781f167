import type { Schemas } from "../../api/client";
import { parseInput } from "./fieldValue";

export type ActivityCreate = Schemas["ActivityCreate"];
export type ActivityKind = ActivityCreate["type"];
export type Activity = Schemas["Activity"];

export const ACTIVITY_KINDS: { value: ActivityKind; label: string }[] = [
  { value: "note", label: "Note" },
  { value: "call", label: "Call" },
  { value: "email", label: "Email" },
  { value: "meeting", label: "Meeting" },
];

export const CALL_OUTCOMES = ["connected", "no_answer", "busy", "left_voicemail", "wrong_number"] as const;

/** The form fields each kind shows (the API's activity schema: what each type takes). */
export const KIND_FIELDS: Record<ActivityKind, readonly string[]> = {
  note: ["occurred_at", "body"],
  call: ["direction", "outcome", "duration_minutes", "occurred_at", "body"],
  email: ["direction", "subject", "occurred_at", "body"],
  meeting: ["subject", "starts_at", "ends_at", "location", "body"],
};

function isDirection(v: string): v is "inbound" | "outbound" {
  return v === "inbound" || v === "outbound";
}

function isOutcome(v: string): v is (typeof CALL_OUTCOMES)[number] {
  return (CALL_OUTCOMES as readonly string[]).includes(v);
}

/** The entry form as the API's ActivityCreate: only the fields the kind takes, empty ones left
 * out (the API says what is missing), times from the browser's zone in UTC. */
export function activityBody(kind: ActivityKind, get: (name: string) => string): ActivityCreate | { error: string } {
  const body: ActivityCreate = { type: kind };
  const fields = KIND_FIELDS[kind];
  const text = (name: string) => (fields.includes(name) ? get(name).trim() : "");
  for (const name of ["occurred_at", "starts_at", "ends_at"] as const) {
    const raw = text(name);
    if (!raw) continue;
    const parsed = parseInput("datetime", raw);
    if ("error" in parsed) return { error: `${name.replace("_at", "").replace("occurred", "when")}: ${parsed.error}` };
    body[name] = String(parsed.value);
  }
  if (text("subject")) body.subject = text("subject");
  if (fields.includes("body") && get("body").trim()) body.body = get("body");
  if (text("location")) body.location = text("location");
  const direction = text("direction");
  if (isDirection(direction)) body.direction = direction;
  const outcome = text("outcome");
  if (isOutcome(outcome)) body.outcome = outcome;
  const minutes = text("duration_minutes");
  if (minutes) {
    const n = Number(minutes.replace(",", "."));
    if (!Number.isFinite(n) || n < 0) return { error: "Duration: enter minutes, e.g. 15." };
    body.duration_seconds = Math.round(n * 60);
  }
  return body;
}

/** One line of details under a timeline entry (direction, outcome, duration, meeting time and place). */
export function activityDetails(a: Activity): string {
  const parts: string[] = [];
  if (a.direction) parts.push(a.direction);
  if (a.outcome) parts.push(a.outcome.replaceAll("_", " "));
  if (typeof a.duration_seconds === "number") parts.push(`${Math.round(a.duration_seconds / 60)} min`);
  if (a.type === "meeting" && a.starts_at) {
    const start = new Date(a.starts_at);
    const end = a.ends_at ? new Date(a.ends_at) : null;
    parts.push(end ? `${start.toLocaleString()} – ${end.toLocaleTimeString()}` : start.toLocaleString());
  }
  if (a.location) parts.push(a.location);
  if (a.cancelled) parts.push("cancelled");
  return parts.join(" · ");
}
