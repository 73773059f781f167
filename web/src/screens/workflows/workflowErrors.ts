// A refused save or dry run, mapped onto the editor: the API keys each problem by where it is
// (`trigger.condition`, `steps.<step id>.<field>`, `steps.<step id>` for the step as a whole; a dry
// run puts `definition.` before them), so each message goes beside its field, and the summary at
// the top names every one of them in words.
import { ApiError, errorsFor, type FieldErrors, errorsOf, under } from "../settings/problem";
import { stepLabel, type StepDraft } from "./definition";

/** The field errors of a failure, without a dry run's `definition.` prefix. */
export function editorErrors(error: unknown): FieldErrors {
  const out: FieldErrors = {};
  for (const [key, messages] of Object.entries(errorsOf(error))) out[key.replace(/^definition\./, "")] = messages;
  return out;
}

/** The errors under a prefix by their field, the prefix's own under "": `within(e, "steps.tag")`
 * is one step's, its own (`steps.tag`: the step as a whole) under "". */
export function within(errors: FieldErrors, prefix: string): FieldErrors {
  const own = errors[prefix];
  return { ...under(errors, prefix), ...(own ? { "": own } : {}) };
}

/** The errors of fields and of their parts ("users" also takes "users.0"), as one list: a step's
 * delay is in minutes, hours or days, and an error may be on any of them. */
export function fieldErrors(errors: FieldErrors, ...names: string[]): string[] | undefined {
  const found = names.flatMap((name) => errorsFor(errors, name) ?? []);
  return found.length ? found : undefined;
}

/** Where a problem is, in words: "Step 3 (tag, Update the record), fields.tagz". */
export function placeOf(key: string, steps: readonly StepDraft[]): string {
  if (key === "trigger" || key.startsWith("trigger.")) return key === "trigger" ? "Trigger" : `Trigger, ${key.slice(8)}`;
  const match = /^steps\.([^.]+)(?:\.(.+))?$/.exec(key);
  if (match) {
    const [, id = "", field] = match;
    const index = steps.findIndex((s) => s.step.id === id);
    const byIndex = index < 0 && /^\d+$/.test(id) ? Number(id) : index;
    const step = steps[byIndex];
    const name = step ? `Step ${byIndex + 1} (${step.step.id || "no id"}, ${stepLabel(step.step.type)})` : `Step ${id}`;
    return field ? `${name}, ${field}` : name;
  }
  return key === "_body" ? "The workflow" : key;
}

/** Every problem of a failure with its place, for the summary at the top of the editor. */
export function problemList(errors: FieldErrors, steps: readonly StepDraft[]): string[] {
  return Object.entries(errors).map(([key, messages]) => `${placeOf(key, steps)}: ${messages.join(" ")}`);
}

/** The sentence for a refused save: a 412 and a 403 in words, else the API's detail. */
export function saveFailure(error: unknown): string {
  if (error instanceof ApiError && error.status === 412) {
    return "Someone else changed this workflow since you opened it, so your changes were not saved. Load their version to start again from it.";
  }
  if (error instanceof ApiError && error.status === 403) {
    return "Only owners and admins can save workflows. You can still look at this one, test it and follow its runs.";
  }
  return error instanceof Error ? error.message : String(error);
}
