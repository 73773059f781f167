import type { FieldErrors } from "../settings/problem";
import type { Json, StepJson } from "./definition";

/** What every step type's form gets. */
export interface StepFormProps {
  step: StepJson;
  /** The step's errors by field (`steps.<id>.title` is `title`). */
  errors: FieldErrors;
  /** The ids of the steps after this one: where its jumps may go. */
  later: readonly string[];
  /** The saved workflow's id (an enrol step may not start the workflow itself). */
  workflowId: string | undefined;
  /** Change some of the step's fields; a field given `undefined` is removed. */
  set: (patch: Json) => void;
}

export function text(value: unknown): string {
  return typeof value === "string" ? value : "";
}

export function numberText(value: unknown): string {
  return value === undefined || value === null ? "" : String(value);
}

/** The first of `names` the step has (its unit: minutes, hours or days), else the first name. */
export function unitOf<T extends string>(step: StepJson, names: readonly T[]): T {
  return names.find((n) => step[n] !== undefined) ?? (names[0] as T);
}

/** A patch that moves a value to another unit's key, the other units removed. */
export function toUnit(step: StepJson, names: readonly string[], unit: string, empty: unknown = undefined): Json {
  const current = names.map((n) => step[n]).find((v) => v !== undefined);
  return { ...Object.fromEntries(names.map((n) => [n, undefined])), [unit]: current ?? empty };
}

/** A datetime-local box's text for an ISO date-time, in the browser's time zone. */
export function localInput(iso: unknown): string {
  if (typeof iso !== "string" || !iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export type { FieldErrors };
