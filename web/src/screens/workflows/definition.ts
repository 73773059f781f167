// A workflow as the editor holds it: the JSON the API takes (docs/workflows.md), each step with a
// stable key for React (a step's id is editable). Fields no form knows are kept as they are, so
// the forms and the raw JSON view edit the same thing and nothing is lost between them.
import type { Schemas } from "../../api/client";

export type Workflow = Schemas["Workflow"];
export type WorkflowBody = Schemas["WorkflowInDoc"];
export type Json = Record<string, unknown>;

export const TRIGGER_TYPES = ["event", "schedule", "webhook", "manual"] as const;
export type TriggerType = (typeof TRIGGER_TYPES)[number];
export const RECORD_TYPES = ["contact", "company", "deal", "ticket"] as const;
export const SOURCES = [
  { value: "import", label: "a CSV import" },
  { value: "api", label: "an API key" },
  { value: "workflow", label: "a workflow" },
  { value: "user", label: "a signed-in user" },
] as const;
export const COMMON_EVENTS = RECORD_TYPES.flatMap((r) => [`crm.${r}.created`, `crm.${r}.updated`]);
// What each trigger type may have besides `type` and `exclude_sources` (the API refuses the rest).
const TRIGGER_FIELDS: Record<TriggerType, readonly string[]> = {
  event: ["event", "condition", "changed", "changed_to"],
  schedule: ["cron", "timezone", "record_type", "filter"],
  webhook: ["record_type"],
  manual: ["record_type"],
};

export interface StepJson extends Json {
  id: string;
  type: string;
}

export interface StepDraft {
  key: string;
  step: StepJson;
}

export interface WorkflowDraft {
  name: string;
  description: string | null;
  enabled: boolean;
  trigger: Json;
  steps: StepDraft[];
}

export const FLOW_STEPS = [
  { type: "condition", label: "Condition (if / else)" },
  { type: "delay", label: "Delay" },
  { type: "wait_for_event", label: "Wait for an event" },
] as const;
export const ACTION_STEPS = [
  { type: "create_task", label: "Create a task" },
  { type: "update_record", label: "Update the record" },
  { type: "assign_owner", label: "Assign an owner" },
  { type: "add_tags", label: "Add tags" },
  { type: "remove_tags", label: "Remove tags" },
  { type: "create_deal", label: "Create a deal" },
  { type: "notify", label: "Notify users" },
  { type: "send_email", label: "Send an email" },
  { type: "call_webhook", label: "Call a webhook" },
  { type: "enrol", label: "Start another workflow" },
  { type: "stop_workflow", label: "Stop another workflow" },
] as const;
const STEP_LABELS: Record<string, string> = Object.fromEntries([...FLOW_STEPS, ...ACTION_STEPS].map((s) => [s.type, s.label]));

export function stepLabel(type: string): string {
  return STEP_LABELS[type] ?? type;
}

// The fields a new step of each type starts with (the API says what is still missing).
const STEP_DEFAULTS: Record<string, Json> = {
  condition: { condition: "" },
  delay: { hours: 1 },
  wait_for_event: { event: "crm.contact.updated", timeout_days: 1 },
  create_task: { title: "" },
  update_record: { fields: {} },
  assign_owner: { users: [], method: "round_robin" },
  add_tags: { tags: [] },
  remove_tags: { tags: [] },
  create_deal: { title: "" },
  notify: { users: ["owner"], message: "" },
  send_email: { to: "record", subject: "", body: "" },
  call_webhook: { url: "", method: "POST" },
  enrol: { workflow_id: "" },
  stop_workflow: { workflow_id: "" },
};

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** An object with some keys changed; a key given `undefined` is removed. */
export function patched<T extends Json>(value: T, patch: Json): T {
  const out: Json = { ...value };
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) delete out[k];
    else out[k] = v;
  }
  return out as T;
}

let keys = 0;
function nextKey(): string {
  keys += 1;
  return `step-${keys}`;
}

/** A step id not taken yet: the type's name, then with _2, _3... */
export function freeId(type: string, taken: readonly string[]): string {
  if (!taken.includes(type)) return type;
  let n = 2;
  while (taken.includes(`${type}_${n}`)) n += 1;
  return `${type}_${n}`;
}

export function newStep(type: string, taken: readonly string[]): StepDraft {
  return { key: nextKey(), step: { id: freeId(type, taken), type, ...(STEP_DEFAULTS[type] ?? {}) } };
}

/** Another type for a step: its id and jump are kept, the old type's fields dropped. */
export function withStepType(step: StepJson, type: string): StepJson {
  return { id: step.id, type, ...(step["next"] !== undefined ? { next: step["next"] } : {}), ...(STEP_DEFAULTS[type] ?? {}) };
}

/** Another trigger type: only the fields that type has are kept. */
export function withTriggerType(trigger: Json, type: TriggerType): Json {
  const out: Json = { type };
  for (const name of [...TRIGGER_FIELDS[type], "exclude_sources"]) {
    if (trigger[name] !== undefined) out[name] = trigger[name];
  }
  if (type === "event" && out["event"] === undefined) out["event"] = "crm.contact.created";
  if (type === "manual" && out["record_type"] === undefined) out["record_type"] = "contact";
  if (type === "schedule") {
    out["cron"] ??= "0 9 * * 1";
    out["timezone"] ??= Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    out["record_type"] ??= "contact";
  }
  return out;
}

export function triggerOf(workflow: Pick<Workflow, "trigger"> | null | undefined): Json {
  return isObject(workflow?.trigger) ? workflow.trigger : {};
}

function stepsOf(raw: unknown): StepDraft[] {
  return (Array.isArray(raw) ? raw : []).filter(isObject).map((s) => ({
    key: nextKey(),
    step: { ...s, id: typeof s["id"] === "string" ? s["id"] : "", type: typeof s["type"] === "string" ? s["type"] : "" },
  }));
}

/** The editor's draft of a saved workflow, or of a new one. */
export function draftOf(workflow: Workflow | null | undefined): WorkflowDraft {
  if (!workflow) {
    return { name: "", description: null, enabled: true, trigger: withTriggerType({}, "event"), steps: [] };
  }
  return {
    name: workflow.name ?? "", description: workflow.description ?? null, enabled: workflow.enabled ?? true,
    trigger: triggerOf(workflow), steps: stepsOf(workflow.steps),
  };
}

/** The draft with an earlier version's trigger and steps (name and enabled stay as they are). */
export function withDefinition(draft: WorkflowDraft, definition: Json): WorkflowDraft {
  return { ...draft, trigger: isObject(definition["trigger"]) ? definition["trigger"] : {}, steps: stepsOf(definition["steps"]) };
}

/** What is saved (POST or PATCH) and shown as raw JSON. */
export function bodyOf(draft: WorkflowDraft): WorkflowBody {
  return {
    name: draft.name, ...(draft.description ? { description: draft.description } : {}), enabled: draft.enabled,
    trigger: draft.trigger, steps: draft.steps.map((s) => s.step),
  };
}

/** The draft of a workflow written as JSON text; throws an Error saying what is wrong. */
export function draftOfJson(text: string): WorkflowDraft {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`Not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isObject(parsed)) throw new Error("The workflow is a JSON object: {\"name\", \"trigger\", \"steps\"}.");
  if (!isObject(parsed["trigger"])) throw new Error("\"trigger\" is an object, e.g. {\"type\": \"manual\", \"record_type\": \"contact\"}.");
  if (!Array.isArray(parsed["steps"]) || !parsed["steps"].every(isObject)) throw new Error("\"steps\" is a list of objects.");
  return {
    name: typeof parsed["name"] === "string" ? parsed["name"] : "",
    description: typeof parsed["description"] === "string" ? parsed["description"] : null,
    enabled: parsed["enabled"] !== false, trigger: parsed["trigger"], steps: stepsOf(parsed["steps"]),
  };
}

/** The kind of record a workflow's runs act on (from an event's type, else the trigger's record_type). */
export function recordTypeOf(trigger: Json): string | null {
  if (trigger["type"] === "event") {
    const aggregate = String(trigger["event"] ?? "").split(".")[1] ?? "";
    return (RECORD_TYPES as readonly string[]).includes(aggregate) ? aggregate : null;
  }
  return typeof trigger["record_type"] === "string" ? trigger["record_type"] : null;
}

const VERBS: Record<string, string> = {
  created: "is created", updated: "is updated", deleted: "is deleted", merged: "is merged",
  stage_changed: "changes stage", status_changed: "changes status", received: "is received",
};

/** "crm.contact.created" -> "a contact is created". */
export function eventPhrase(event: string): string {
  const [, aggregate, verb] = event.split(".");
  const phrase = verb ? VERBS[verb] : undefined;
  if (!aggregate || !phrase) return `${event || "an event"} happens`;
  return `${/^[aeiou]/.test(aggregate) ? "an" : "a"} ${aggregate.replace(/_/g, " ")} ${phrase}`;
}

function list(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : [];
}

/** One line about when a workflow starts: "When a contact is created · lifecycle_stage = 'lead'". */
export function triggerSummary(trigger: Json): string {
  const parts: string[] = [];
  const type = trigger["type"];
  if (type === "event") {
    parts.push(`When ${eventPhrase(String(trigger["event"] ?? ""))}`);
    if (trigger["condition"]) parts.push(String(trigger["condition"]));
    if (list(trigger["changed"]).length) parts.push(`${list(trigger["changed"]).join(" or ")} changed`);
    if (isObject(trigger["changed_to"])) {
      parts.push(...Object.entries(trigger["changed_to"]).map(([f, v]) => `${f} changed to ${JSON.stringify(v)}`));
    }
  } else if (type === "schedule") {
    parts.push(`On schedule ${String(trigger["cron"] ?? "")} (${String(trigger["timezone"] ?? "UTC")}), each ${String(trigger["record_type"] ?? "record")}`);
    if (trigger["filter"]) parts.push(String(trigger["filter"]));
  } else if (type === "webhook") {
    parts.push(`When its webhook URL is called${trigger["record_type"] ? `, on a ${String(trigger["record_type"])}` : ""}`);
  } else if (type === "manual") {
    parts.push(`Started by hand on ${String(trigger["record_type"] ?? "record")}s`);
  } else {
    parts.push(`Unknown trigger ${JSON.stringify(type)}`);
  }
  const excluded = list(trigger["exclude_sources"]);
  if (excluded.length) parts.push(`not for changes by ${excluded.join(", ")}`);
  return parts.join(" · ");
}

/** "contact" -> "Contact"; no type -> "Record". */
export function recordNoun(recordType: string | null | undefined): string {
  return recordType ? `${recordType.charAt(0).toUpperCase()}${recordType.slice(1)}` : "Record";
}

const RECORD_PATHS: Record<string, string> = { contact: "/contacts", company: "/companies", deal: "/deals", ticket: "/tickets" };

/** The console page of a record, where it has one. */
export function recordPath(recordType: string | null | undefined, id: string | null | undefined): string | null {
  const base = recordType ? RECORD_PATHS[recordType] : undefined;
  return base && id ? `${base}/${encodeURIComponent(id)}` : null;
}

/** A value typed in a box: JSON where it reads as JSON other than a string (10, true, ["a"]), else the text. */
export function parseValue(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** The text for a value that parseValue reads back as the same value. */
export function valueText(value: unknown): string {
  if (typeof value === "string") return parseValue(value) === value ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? "";
}

/** "vip, {{ record.country }}" -> ["vip", "{{ record.country }}"]: split on commas and new lines
 * (a tag or template may have spaces); blank entries dropped. */
export function parseList(text: string): string[] {
  return text.split(/[,\n]+/).map((t) => t.trim()).filter(Boolean);
}

/** Record ids, separated by commas, spaces or new lines. */
export function parseIds(text: string): string[] {
  return text.split(/[\s,]+/).map((t) => t.trim()).filter(Boolean);
}

/** A whole number typed in a box; blank is absent, anything else is sent as typed (the API names it). */
export function parseNumber(text: string): number | string | undefined {
  const t = text.trim();
  if (!t) return undefined;
  return /^-?\d+$/.test(t) ? Number(t) : t;
}
