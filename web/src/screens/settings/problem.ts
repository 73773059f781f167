import { describe, type Problem } from "../../api/client";

/** A refusal of the API kept whole: the sentence for the form, the field errors for the fields. */
export class ApiProblem extends Error {
  readonly errors: Record<string, string[]>;
  readonly status: number | undefined;

  constructor(problem: unknown) {
    super(describe(problem));
    const p = (problem ?? {}) as Problem;
    this.errors = p.errors ?? {};
    this.status = p.status;
  }
}

/** Throws the answer's problem: for queryFn and mutationFn, `if (error) fail(error)`. */
export function fail(problem: unknown): never {
  throw new ApiProblem(problem);
}

/** The field errors of a failed mutation or query (none for other failures). */
export function errorsOf(error: unknown): Record<string, string[]> {
  return error instanceof ApiProblem ? error.errors : {};
}

/** The messages about `field` and its parts ("holidays" also gets "holidays.0.date"), or undefined. */
export function errorsFor(errors: Record<string, string[]>, field: string): string[] | undefined {
  const found = Object.entries(errors)
    .filter(([key]) => key === field || key.startsWith(`${field}.`))
    .flatMap(([key, messages]) => (key === field ? messages : messages.map((m) => `${key.slice(field.length + 1)}: ${m}`)));
  return found.length ? found : undefined;
}

/** What to tell the user about a failure that is not one field's: the API's sentence. */
export function messageOf(error: unknown): string | null {
  if (!error) return null;
  return error instanceof Error ? error.message : String(error);
}
