import { describe, expect, it } from "vitest";
import { ApiError, errorsFor, errorsOf, messageOf, summary, under } from "./problem";

const problem = {
  status: 422,
  detail: "The request has invalid fields.",
  errors: { key: ["Use lowercase letters."], "stages.1.name": ["Another stage is already named 'Won'."], stages: ["At least one open stage."],
    "holidays.0.date": ["Not a valid date."] },
};

describe("ApiError", () => {
  it("keeps the detail as its message and the field errors", () => {
    const e = new ApiError(problem);
    expect(e.message).toBe("The request has invalid fields.");
    expect(e.status).toBe(422);
    expect(errorsOf(e)["key"]).toEqual(["Use lowercase letters."]);
  });

  it("falls back to the title, then to a general sentence", () => {
    expect(new ApiError({ title: "Conflict" }).message).toBe("Conflict");
    expect(new ApiError(undefined).message).toBe("Something went wrong.");
    expect(errorsOf(new Error("network"))).toEqual({});
  });
});

describe("under and errorsFor", () => {
  it("picks one item's errors by their prefix", () => {
    expect(under(problem.errors, "stages.1")).toEqual({ name: ["Another stage is already named 'Won'."] });
    expect(under(problem.errors, "stages.0")).toEqual({});
  });

  it("collects a field's nested errors under it", () => {
    expect(errorsFor(problem.errors, "holidays")).toEqual(["0.date: Not a valid date."]);
    expect(errorsFor(problem.errors, "name")).toBeUndefined();
  });
});

describe("summary and messageOf", () => {
  it("names only the errors that no field of the form shows", () => {
    const e = new ApiError(problem);
    expect(summary(e, ["key", "stages.", "holidays."])).toBe("The request has invalid fields. stages: At least one open stage.");
    expect(summary(e, ["key", "stages", "stages.", "holidays."])).toBe("The request has invalid fields.");
    expect(summary(null, [])).toBe("");
  });

  it("says the whole failure, or nothing", () => {
    expect(messageOf(new ApiError({ detail: "Invalid fields.", errors: { name: ["Required."] } }))).toBe("Invalid fields. name: Required.");
    expect(messageOf(new Error("offline"))).toBe("offline");
    expect(messageOf(null)).toBeNull();
  });
});
