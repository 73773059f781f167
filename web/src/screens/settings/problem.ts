// The settings pages' one way to carry a refused call to its form: the problem+json detail as the
// message and its `errors` map kept, so that each message is shown on its own field.
import type { Problem } from "../../api/client";

export type FieldErrors = Record<string, string[]>;

export class ApiError extends Error {
  readonly errors: FieldErrors;
  readonly status: number | undefined;

  constructor(problem: unknown) {
    const p = (problem ?? {}) as Problem;
    super(p.detail ?? p.title ?? "Something went wrong.");
    this.name = "ApiError";
    this.errors = p.errors ?? {};
    this.status = p.status;
  }
}

/** Throws the failed call's problem as an ApiError (for TanStack Query's error). */
export function raise(problem: unknown): never {
  throw new ApiError(problem);
}

/** The field errors of a failure (none for a failure that is not the API's). */
export function errorsOf(error: unknown): FieldErrors {
  return error instanceof ApiError ? error.errors : {};
}

/** The errors under a prefix, renamed without it: `stages.2.name` under "stages.2" is `name`. */
export function under(errors: FieldErrors, prefix: string): FieldErrors {
  const out: FieldErrors = {};
  for (const [key, messages] of Object.entries(errors)) {
    if (key.startsWith(`${prefix}.`)) out[key.slice(prefix.length + 1)] = messages;
  }
  return out;
}

/** The messages about `field` and its parts ("holidays" also gets "holidays.0.date"), or undefined. */
export function errorsFor(errors: FieldErrors, field: string): string[] | undefined {
  const found = Object.entries(errors)
    .filter(([key]) => key === field || key.startsWith(`${field}.`))
    .flatMap(([key, messages]) => (key === field ? messages : messages.map((m) => `${key.slice(field.length + 1)}: ${m}`)));
  return found.length ? found : undefined;
}

/**
 * The sentence for the form's alert: the detail, plus the field errors that no field of the form
 * shows (a field shows its own; `shown` says which fields the form has, a prefix ending in "."
 * standing for all below it).
 */
export function summary(error: unknown, shown: readonly string[]): string {
  if (!(error instanceof Error)) return "";
  const rest = Object.entries(errorsOf(error))
    .filter(([key]) => !shown.some((s) => (s.endsWith(".") ? key.startsWith(s) : key === s)))
    .map(([key, messages]) => `${key}: ${messages.join(" ")}`);
  return [error.message, ...rest].join(" ");
}

/** The whole sentence about a failure (the detail and every field error), or null for none. */
export function messageOf(error: unknown): string | null {
  if (!error) return null;
  return error instanceof Error ? summary(error, []) : String(error);
}
