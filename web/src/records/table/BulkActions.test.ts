import { describe, expect, it } from "vitest";
import { summarise } from "./BulkActions";

describe("summarise", () => {
  it("counts what went through, with the right noun", () => {
    expect(summarise([{ status: 200 }, { status: 200 }], "Tagged:", "contact", "contacts")).toBe("Tagged: 2 contacts.");
    expect(summarise([{ status: 204 }], "Deleted", "company", "companies")).toBe("Deleted 1 company.");
  });

  it("says why the others did not", () => {
    const text = summarise(
      [{ status: 200 }, { status: 412 }, { status: 404, errors: { _body: ["No contact with id x."] } },
        { status: 422, errors: { tags: ["Too many."] } }],
      "Tagged:", "contact", "contacts");
    expect(text).toBe("Tagged: 1 contact; 3 not: 1 changed since the page loaded (reload and try again); No contact with id x.; tags: Too many..");
  });
});
